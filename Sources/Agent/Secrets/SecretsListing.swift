import FoundationEssentials
import Store
import WardenSystem

/// What `warden secrets list` prints: names, scope, repository, hosts, when; never a value.
enum SecretsListing {
    static func table(_ secrets: [SecretInfo]) -> String {
        guard !secrets.isEmpty else { return "no secrets\n" }
        var rows = [["NAME", "SCOPE", "REPOSITORY", "HOSTS", "UPDATED"]]
        for secret in secrets {
            rows.append([secret.name, secret.scope == .org ? "organisation" : secret.owner, secret.repository.isEmpty ? "any" : secret.repository,
                         secret.hosts.isEmpty ? "(none)" : secret.hosts.joined(separator: ","), Timestamp.text(secret.updated / 1000)])
        }
        return TextTable.render(rows)
    }

    static func json(_ secrets: [SecretInfo]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let data = try? encoder.encode(secrets) else { return "[]\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
