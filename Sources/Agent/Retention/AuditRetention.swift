import Policy
import Store
import WardenSystem

/// The audit half of the retention sweep (supervisor and `warden gc`): records older than the
/// policy's `retention.audit` (default 90 days) are purged as a prefix of the chain, the purge
/// is recorded in the log itself (kind access, rule retention.audit) and leaves a keyed
/// checkpoint, so `warden audit verify` still passes on what remains (R26).
public enum AuditRetention {
    public struct Outcome: Sendable, Equatable {
        public var purged: AuditPurge?
        public var failure: String?

        public init(purged: AuditPurge? = nil, failure: String? = nil) {
            self.purged = purged
            self.failure = failure
        }
    }

    public static func run(home: String, policy: OrgPolicy, now: Int64, dryRun: Bool = false) -> Outcome {
        let path = SQLiteAuditStore.path(home: home)
        guard Files.lstat(path) != nil else { return Outcome() }
        let cutoff = now - Int64(policy.retention.audit.seconds) * 1000
        do throws(StoreError) {
            if dryRun { return Outcome(purged: try SQLiteAuditStore(path: path, readOnly: true, create: false).purgeable(before: cutoff)) }
            let store = try SQLiteAuditStore(path: path, create: false, key: try AuditKey.load(home: home))
            let purged = try store.purge(before: cutoff) { first, last, count in
                AuditRecord(time: now, runID: "", owner: 0, kind: .access, proto: "", allowed: true, rule: "retention.audit",
                            reason: "retention: \(count) audit record\(count == 1 ? "" : "s") older than \(policy.retention.audit) purged (records \(first)…\(last)); a keyed checkpoint marks where the log now begins",
                            count: count, detail: "first=\(first); last=\(last); before=\(cutoff)")
            }
            return Outcome(purged: purged)
        } catch {
            return Outcome(failure: "the audit log was not purged: \(error.message)")
        }
    }
}
