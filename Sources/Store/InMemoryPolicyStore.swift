import Policy

/// A policy store in memory, for unit tests of code that takes a `PolicyStore`. Same
/// semantics as the SQLite one: versions append, commits check the base version.
public final class InMemoryPolicyStore: PolicyStore {
    private var versions: [StoredPolicy] = []
    private var recorded: [DecisionRecord] = []

    public init() {}

    public func current() throws(StoreError) -> StoredPolicy? { versions.last }

    public func version(_ number: Int) throws(StoreError) -> StoredPolicy? { versions.first { $0.version == number } }

    public func history(limit: Int) throws(StoreError) -> [PolicyVersionInfo] { versions.reversed().prefix(limit).map(\.info) }

    public func commit(_ policy: OrgPolicy, basedOn: Int, by actor: Actor, command: String,
                       changes: [SettingChange], at time: Int64) throws(StoreError) -> Int {
        let latest = versions.last?.version ?? 0
        guard latest == basedOn else { throw StoreError(.conflict, "the policy changed (now version \(latest))") }
        let info = PolicyVersionInfo(version: latest + 1, time: time, actor: actor, command: command, changes: changes)
        versions.append(StoredPolicy(version: latest + 1, policy: policy, info: info))
        return latest + 1
    }

    public func latestSettings(prefixes: [String]) throws(StoreError) -> (version: Int, values: [(key: String, value: String)])? {
        guard let latest = versions.last else { return nil }
        let values = PolicySettings.flatten(latest.policy).filter { entry in prefixes.contains { entry.key.hasPrefix($0) } }
        return (latest.version, values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    public func record(_ decision: DecisionRecord) throws(StoreError) {
        var decision = decision
        decision.id = Int64(recorded.count + 1)
        recorded.append(decision)
    }

    public func decisions(limit: Int) throws(StoreError) -> [DecisionRecord] { recorded.reversed().prefix(limit).map { $0 } }
}
