import Policy

/// Where policy versions, their history and recorded decisions live. SQLite implements it
/// today; the protocol is the seam for a PostgreSQL store and for fakes in unit tests.
public protocol PolicyStore: AnyObject {
    /// The version in force, or nil before anyone wrote one (the built-in policy applies).
    func current() throws(StoreError) -> StoredPolicy?
    func version(_ number: Int) throws(StoreError) -> StoredPolicy?
    /// Newest first.
    func history(limit: Int) throws(StoreError) -> [PolicyVersionInfo]
    /// Writes `policy` as the next version, atomically with its change list, if and only if
    /// the version in force is still `basedOn` (0: none yet). Returns the new version number.
    func commit(_ policy: OrgPolicy, basedOn: Int, by actor: Actor, command: String,
                changes: [SettingChange], at time: Int64) throws(StoreError) -> Int
    /// The values of the version in force under keys with these prefixes (the flattened
    /// form `PolicySettings.flatten` writes), in key order; nil before any version exists. A
    /// list, not a dictionary: this is on `warden run`'s launch path, where instantiating a
    /// new generic dictionary type costs a run-time conformance search.
    func latestSettings(prefixes: [String]) throws(StoreError) -> (version: Int, values: [(key: String, value: String)])?
    /// Records one decision: a refused change, a weakening option used or refused.
    func record(_ decision: DecisionRecord) throws(StoreError)
    /// Newest first.
    func decisions(limit: Int) throws(StoreError) -> [DecisionRecord]
}

/// Who did something: the OS uid and the name the policy knows them by.
public struct Actor: Codable, Sendable, Equatable {
    public var uid: UInt32
    public var name: String

    public init(uid: UInt32, name: String) {
        self.uid = uid
        self.name = name
    }
}

/// One version as stored.
public struct StoredPolicy: Sendable, Equatable {
    public var version: Int
    public var policy: OrgPolicy
    public var info: PolicyVersionInfo

    public init(version: Int, policy: OrgPolicy, info: PolicyVersionInfo) {
        self.version = version
        self.policy = policy
        self.info = info
    }
}

/// Who changed what, when: one line of `warden-admin history`.
public struct PolicyVersionInfo: Codable, Sendable, Equatable {
    public var version: Int
    /// Seconds since the epoch.
    public var time: Int64
    public var actor: Actor
    /// What was run, e.g. `set network.mode monitor`.
    public var command: String
    public var changes: [SettingChange]

    public init(version: Int, time: Int64, actor: Actor, command: String, changes: [SettingChange]) {
        self.version = version
        self.time = time
        self.actor = actor
        self.command = command
        self.changes = changes
    }
}

/// A security decision as recorded: who asked for what, the answer, the rule and the reason.
public struct DecisionRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var time: Int64
    public var actor: Actor
    /// What was asked: `set security.teamFollowUps`, `run --allow-degraded landlock`.
    public var action: String
    public var decision: Decision

    public init(id: Int64 = 0, time: Int64, actor: Actor, action: String, decision: Decision) {
        self.id = id
        self.time = time
        self.actor = actor
        self.action = action
        self.decision = decision
    }
}
