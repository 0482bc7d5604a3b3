import Glibc
import Policy
import Store
import WardenSystem

/// `warden secrets set|list|remove`, answered by the supervisor (which alone can read the key):
/// the caller is the socket's uid, each change is decided by the policy and recorded, and a
/// value arrives only as the request's input (from the caller's stdin), never in an argv.
public struct SecretsService: Sendable {
    public let home: String
    public let keys: any SecretKeyProvider
    public static let maxValueBytes = 65_536

    public init(home: String, keys: any SecretKeyProvider) {
        self.home = home
        self.keys = keys
    }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        let context: CallerPolicy
        do throws(SupervisorResponse.Failure) { context = try CallerPolicy.resolve(home: home, uid: callerUID) } catch { return error.response }
        let caller = context.caller
        let arguments = request.arguments
        let organisation = arguments["scope"] == "org"
        if let scope = arguments["scope"], scope != "org" && scope != "user" {
            return .failure(125, "warden: --scope \(scope): expected user or org")
        }
        let owner = organisation ? "" : caller.name
        switch request.operation {
        case "secrets.set", "secrets.remove":
            let name = arguments["name"] ?? ""
            guard name.utf8.count <= 128, isEnvironmentVariableName(name) else {
                return .failure(125, "warden: secret name \"\(name.prefix(80))\": expected an environment variable name (letters, digits, _; not starting with a digit; at most 128)")
            }
            let repository = arguments["repository"] ?? ""
            guard repository.utf8.count <= 512, !repository.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                return .failure(125, "warden: --repo: expected a repository URL or path of at most 512 printable characters")
            }
            let decision = context.evaluator.mayManageSecret(caller, organisation: organisation)
            let action = "secrets \(request.operation == "secrets.set" ? "set" : "remove") \(organisation ? "org:" : "")\(name)"
            if let refusal = context.record(action, decision) { return refusal }
            if request.operation == "secrets.set" {
                return set(name: name, owner: owner, organisation: organisation, repository: repository, hostsText: arguments["hosts"] ?? "", input: request.input)
            }
            do {
                let removed = try open().remove(scope: organisation ? .org : .user, owner: owner, name: name, repository: repository)
                return removed ? SupervisorResponse(output: "removed \(name)\n") : .failure(1, "warden: no secret \(name)\(repository.isEmpty ? "" : " for \(repository)")")
            } catch {
                return .failure(122, "warden: \(error.message)")
            }
        case "secrets.list":
            if let refusal = context.strangerRefusal { return refusal }
            do {
                let secrets = try open().list(owner: caller.isAdmin || caller.role == .auditor ? nil : caller.name)
                if arguments["json"] == "true" { return SupervisorResponse(output: SecretsListing.json(secrets)) }
                return SupervisorResponse(output: SecretsListing.table(secrets))
            } catch {
                return .failure(122, "warden: \(error.message)")
            }
        default:
            return .failure(125, "warden: unknown operation \(request.operation)")
        }
    }

    private func set(name: String, owner: String, organisation: Bool, repository: String, hostsText: String, input: String?) -> SupervisorResponse {
        guard let value = input, !value.isEmpty else { return .failure(125, "warden: no value on standard input") }
        guard value.utf8.count <= Self.maxValueBytes else { return .failure(125, "warden: the value is larger than \(Self.maxValueBytes) bytes") }
        guard !value.utf8.contains(0) else { return .failure(125, "warden: the value contains a NUL byte (secrets are given as environment variables)") }
        var hosts: [String] = []
        for text in hostsText.split(separator: ",", omittingEmptySubsequences: true).map({ String($0).trimmingWhitespace() }) {
            do {
                hosts.append(try DomainPattern.parse(text, forAllow: true).description)
            } catch {
                return .failure(125, "warden: --hosts \(text.prefix(80)): \(error.message)")
            }
        }
        let info = SecretInfo(scope: organisation ? .org : .user, owner: owner, name: name, repository: repository,
                              hosts: Array(Set(hosts)).sorted(), updated: wallMilliseconds())
        do {
            let replaced = try open().set(info, value: Array(value.utf8))
            let reach = info.hosts.isEmpty ? "sent to no host" : "sent only to " + info.hosts.joined(separator: ", ")
            return SupervisorResponse(output: "\(replaced ? "replaced" : "stored") \(name) (\(organisation ? "organisation" : owner)\(repository.isEmpty ? "" : ", \(repository)"); \(reach))\n")
        } catch {
            return .failure(122, "warden: \(error.message)")
        }
    }

    private func open() throws(StoreError) -> SecretStore {
        try SecretStore(path: SecretStore.path(home: home), keys: keys)
    }

}
