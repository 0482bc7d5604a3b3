import Glibc
import Policy
import WardenSystem

/// The org policy as one caller sees it: the version in force (or the built-in one before
/// any was written), who the caller is, and the one path by which a change is checked
/// against the caller's rights, validated, and committed atomically, or refused and
/// recorded. Both `warden` and `warden-admin` go through it.
public final class PolicyService {
    /// nil: no store exists yet and none was created; the built-in policy is in force.
    public private(set) var store: (any PolicyStore)?
    /// The read-write connection, once a write needed one.
    private var writer: (any PolicyStore)?
    public let home: String
    public let callerUID: UInt32
    /// The caller may read the store but not write it: their records go to the journal.
    public let readOnly: Bool

    public static func storePath(home: String) -> String { home + "/policy.db" }

    /// Opens the store under `home` (already resolved by `PolicyHome`). A store that exists
    /// but cannot be opened is an error, never a silent fall back to the built-in policy.
    public init(home: String, callerUID: UInt32 = getuid()) throws(StoreError) {
        self.home = home
        self.callerUID = callerUID
        let path = Self.storePath(home: home)
        if Files.lstat(path) != nil {
            readOnly = !(access(path, W_OK) == 0 && access(home, W_OK) == 0)
            // Reads go through a read-only connection: it takes no write lock and does no
            // checkpoint when it closes, which keeps `warden run`'s launch path short. A
            // writable connection is opened only for a write (or a schema upgrade).
            do {
                store = try SQLitePolicyStore(path: path, readOnly: true, create: false)
            } catch where error.code == .outdated && !readOnly {
                let upgraded = try SQLitePolicyStore(path: path, readOnly: false, create: false)
                store = upgraded
                writer = upgraded
            }
        } else {
            // Only "it does not exist" means the built-in policy; "cannot look" is an error.
            let error = errno
            guard error == ENOENT else {
                throw StoreError(.unavailable, "cannot look up the policy store \(path): \(String(cString: strerror(error)))")
            }
            readOnly = callerUID != 0 && access(home, W_OK) != 0
            store = nil
        }
    }

    /// An already opened store (tests, and later the daemon).
    public init(store: any PolicyStore, home: String = "", callerUID: UInt32) {
        self.store = store
        writer = store
        self.home = home
        self.callerUID = callerUID
        readOnly = false
    }

    /// The version in force: (0, built-in) before any was written.
    public func current() throws(StoreError) -> (version: Int, policy: OrgPolicy) {
        guard let stored = try store?.current() else { return (0, OrgPolicy.builtIn) }
        return (stored.version, stored.policy)
    }

    /// The policy as it was at `number` (0: the built-in one): what an agent started under that
    /// version keeps to, whatever was changed since.
    public func version(_ number: Int) throws(StoreError) -> OrgPolicy {
        guard number > 0 else { return OrgPolicy.builtIn }
        guard let stored = try store?.version(number) else { throw StoreError(.notFound, "policy version \(number) is not in the store") }
        return stored.policy
    }

    /// The users and sandbox settings in force, read as rows: all `warden run` needs, without
    /// decoding the whole document on its launch path. A row that does not parse is corruption
    /// and refuses (never a silent default).
    public func currentForRun(network: Bool = false) throws(StoreError) -> (version: Int, policy: OrgPolicy) {
        // A guarded network needs the rules, which only the whole document holds.
        if network { return try current() }
        guard let (version, values) = try store?.latestSettings(prefixes: ["sandbox.", "users."]) else { return (0, OrgPolicy.builtIn) }
        var policy = OrgPolicy()
        policy.users = []
        for (key, value) in values {
            if key.hasPrefix("users.") {
                guard let user = PolicyUser(flattened: value, name: String(key.dropFirst(6))) else {
                    throw StoreError(.corrupt, "version \(version): \(key) does not parse: \(value)")
                }
                policy.users.append(user)
                continue
            }
            do {
                try PolicySettings.set(&policy, key, value)
            } catch {
                throw StoreError(.corrupt, "version \(version): \(error.description)")
            }
        }
        // Every sandbox key must be there: a version written without them would otherwise
        // read as the defaults (fail open).
        for descriptor in PolicySettings.descriptors where descriptor.key.hasPrefix("sandbox.") && !values.contains(where: { $0.key == descriptor.key }) {
            throw StoreError(.corrupt, "version \(version) has no value for \(descriptor.key)")
        }
        return (version, policy)
    }

    public func principal(in policy: OrgPolicy) -> Principal {
        Principal.resolve(uid: callerUID, policy: policy)
    }

    /// The store, created under the home when missing (a first write or a record to keep).
    public func writableStore() throws(StoreError) -> any PolicyStore {
        guard !readOnly else {
            throw StoreError(.unavailable, "the policy store \(Self.storePath(home: home)) is read-only for uid \(callerUID)")
        }
        if let writer { return writer }
        if store != nil {
            let opened = try SQLitePolicyStore(path: Self.storePath(home: home), readOnly: false, create: false)
            if callerUID == 0 { try DecisionJournal(home: home).create() }
            writer = opened
            store = opened
            return opened
        }
        do {
            try Files.makeDirectories(home, mode: 0o700)
        } catch {
            throw StoreError(.unavailable, "create the Warden home \(home): \(error.reason)")
        }
        let created = try SQLitePolicyStore(path: Self.storePath(home: home), create: true)
        if callerUID == 0 {
            // The policy is not secret and every user must be able to read what binds them:
            // the home is traversable and the store readable; only root writes either.
            if let st = Files.lstat(home) { chmod(home, (st.st_mode & 0o7777) | 0o055) }
            chmod(Self.storePath(home: home), 0o644)
            try DecisionJournal(home: home).create()
        }
        store = created
        writer = created
        return created
    }

    /// What a change would do, or did.
    public struct ChangeResult: Sendable {
        public var version: Int
        public var changes: [SettingChange]
        public var applied: Bool
    }

    /// Applies `transform` to the policy in force as the caller. Every changed key must be
    /// one the caller may change; the result must validate; then it is committed against the
    /// version it was computed from (a concurrent writer makes it fail, changing nothing).
    /// A refusal is recorded, then thrown. `dryRun` checks everything and writes nothing.
    @discardableResult
    public func change(_ command: String, at time: Int64, dryRun: Bool = false,
                       _ transform: (inout OrgPolicy) throws(PolicyError) -> Void) throws(StoreError) -> ChangeResult {
        let (version, policy) = try current()
        var updated = policy
        do {
            try transform(&updated)
        } catch {
            throw StoreError(.invalid, error.description)
        }
        let changes = SettingChange.between(policy, updated)
        let caller = principal(in: policy)
        let evaluator = PolicyEvaluator(policy)
        for change in changes {
            let decision = evaluator.mayChange(caller, setting: change.key, newValue: change.new)
            guard decision.allowed else {
                var note = ""
                do { try record(command, decision, at: time, as: caller) } catch { note = " (this refusal could not be recorded: \(error.message))" }
                throw StoreError(.refused, "refused: \(decision.reason) [\(decision.rule)]; nothing was changed\(note)", decision: decision)
            }
        }
        if let problem = PolicyValidator.problems(updated).first {
            throw StoreError(.invalid, problem.description)
        }
        guard !changes.isEmpty, !dryRun else { return ChangeResult(version: version, changes: changes, applied: false) }
        let actor = Actor(uid: callerUID, name: caller.name)
        let next = try writableStore().commit(updated, basedOn: version, by: actor, command: command, changes: changes, at: time)
        return ChangeResult(version: next, changes: changes, applied: true)
    }

    /// Records a decision about the caller (a refused change, a weakening option): in the
    /// store when the caller may write it, else in the caller's own journal file.
    public func record(_ action: String, _ decision: Decision, at time: Int64, as caller: Principal? = nil) throws(StoreError) {
        let who: Principal
        if let caller { who = caller } else { who = principal(in: try current().policy) }
        let record = DecisionRecord(time: time, actor: Actor(uid: callerUID, name: who.name), action: action, decision: decision)
        if readOnly {
            try DecisionJournal(home: home).append(record)
        } else {
            try writableStore().record(record)
        }
    }

    /// Recorded decisions, newest first: the store's and the journal's. `onlyUID` limits them
    /// to one caller's (what a member may see, R25).
    public func decisions(limit: Int, onlyUID: UInt32? = nil) throws(StoreError) -> [DecisionRecord] {
        var all = try store?.decisions(limit: onlyUID == nil ? limit : 100_000) ?? []
        if let onlyUID { all = all.filter { $0.actor.uid == onlyUID } }
        let policy = try current().policy
        all += DecisionJournal(home: home).records(onlyUID: onlyUID) { uid in Principal.resolve(uid: uid, policy: policy).name }
        return Array(all.sorted { ($0.time, $0.id) > ($1.time, $1.id) }.prefix(limit))
    }
}
