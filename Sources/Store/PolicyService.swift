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
    public let home: String
    public let callerUID: UInt32
    /// The owner of the Warden home: an admin of it by the bootstrap rule.
    public let homeOwner: UInt32?
    public let readOnly: Bool

    public static func storePath(home: String) -> String { home + "/policy.db" }

    /// Opens the store under `home`. A store that exists but cannot be opened is an error,
    /// never a silent fall back to the built-in policy (that would fail open).
    public init(home: String, callerUID: UInt32 = getuid()) throws(StoreError) {
        self.home = home
        self.callerUID = callerUID
        let path = Self.storePath(home: home)
        homeOwner = Files.stat(home).map { $0.st_uid }
        if Files.lstat(path) != nil {
            let writable = access(path, W_OK) == 0 && access(home, W_OK) == 0
            readOnly = !writable
            store = try SQLitePolicyStore(path: path, readOnly: !writable, create: false)
        } else {
            // Only "it does not exist" means the built-in policy; "cannot look" is an error.
            let error = errno
            guard error == ENOENT else {
                throw StoreError(.unavailable, "cannot look up the policy store \(path): \(String(cString: strerror(error)))")
            }
            readOnly = false
            store = nil
        }
    }

    /// An already opened store (tests, and later the daemon).
    public init(store: any PolicyStore, home: String = "", callerUID: UInt32, homeOwner: UInt32?) {
        self.store = store
        self.home = home
        self.callerUID = callerUID
        self.homeOwner = homeOwner
        readOnly = false
    }

    /// The version in force: (0, built-in) before any was written.
    public func current() throws(StoreError) -> (version: Int, policy: OrgPolicy) {
        guard let stored = try store?.current() else { return (0, OrgPolicy.builtIn) }
        return (stored.version, stored.policy)
    }

    public func principal(in policy: OrgPolicy) -> Principal {
        Principal.resolve(uid: callerUID, policy: policy, storeOwner: homeOwner)
    }

    /// The store, created under the home when missing (a first write or a record to keep).
    public func writableStore() throws(StoreError) -> any PolicyStore {
        guard !readOnly else {
            throw StoreError(.unavailable, "the policy store \(Self.storePath(home: home)) is read-only for uid \(callerUID)")
        }
        if let store { return store }
        do {
            try Files.makeDirectories(home, mode: 0o700)
        } catch {
            throw StoreError(.unavailable, "create the Warden home \(home): \(error.reason)")
        }
        let created = try SQLitePolicyStore(path: Self.storePath(home: home), create: true)
        store = created
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
                try? record("\(command)", decision, at: time, as: caller)
                throw StoreError(.refused, "refused: \(decision.reason) [\(decision.rule)]; nothing was changed", decision: decision)
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

    /// Records a decision about the caller (a refused change, a weakening option).
    public func record(_ action: String, _ decision: Decision, at time: Int64, as caller: Principal? = nil) throws(StoreError) {
        let who: Principal
        if let caller { who = caller } else { who = principal(in: try current().policy) }
        try writableStore().record(DecisionRecord(time: time, actor: Actor(uid: callerUID, name: who.name), action: action, decision: decision))
    }
}
