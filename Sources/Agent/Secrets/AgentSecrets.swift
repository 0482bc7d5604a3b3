import Store
import WardenSystem

/// The secrets an agent's sandbox is given as environment variables (R18): the
/// organisation's and its owner's own, those for any repository and those for this one; the
/// owner's wins over the organisation's and a repository's over a general one of the same
/// name. Opened only in the owner process, never written anywhere in clear.
/// A secret given to a run: its variable, its value, and the hosts it may be sent to (R18).
public struct GivenSecret: Sendable {
    public var name: String
    public var value: String
    public var hosts: [String]

    public init(name: String, value: String, hosts: [String]) {
        self.name = name
        self.value = value
        self.hosts = hosts
    }
}

enum AgentSecrets {
    static func load(home: String, keys: any SecretKeyProvider, owner: String, repository: String) throws(StoreError) -> [GivenSecret] {
        let path = SecretStore.path(home: home)
        guard Files.lstat(path) != nil else { return [] }
        let store = try SecretStore(path: path, keys: keys)
        let candidates = try store.list(owner: owner).filter { $0.repository.isEmpty || $0.repository == repository }
        // Rank: user over org, repository-specific over general.
        func rank(_ info: SecretInfo) -> Int { (info.scope == .user ? 2 : 0) + (info.repository.isEmpty ? 0 : 1) }
        var chosen: [String: SecretInfo] = [:]
        for info in candidates where (info.scope == .org || info.owner == owner) {
            if let current = chosen[info.name], rank(current) >= rank(info) { continue }
            chosen[info.name] = info
        }
        var result: [GivenSecret] = []
        for name in chosen.keys.sorted() {
            guard let info = chosen[name] else { continue }
            let bytes = try store.value(of: info)
            result.append(GivenSecret(name: name, value: String(decoding: bytes, as: UTF8.self), hosts: info.hosts))
        }
        return result
    }
}
