import Glibc
import Store
import WardenSystem

/// Turns the guard's decisions into audit records for one sandbox. Repeated identical
/// denials (same kind, destination, name and rule) within a window are merged into one
/// record with a count (R19), so a program hammering a refused address cannot flood the
/// store; everything else is written one record per event. When the writer fails or the
/// sandbox exceeds its record rate, `mayAllow` turns false and the guard refuses egress.
final class AuditRecorder {
    let writer: AuditWriter
    let runID: String
    let agentID: String
    let owner: UInt32
    private var bucket: TokenBucket
    private var merged: [MergeKey: Merge] = [:]
    private(set) var recorded: Int64 = 0
    private(set) var mergedAway: Int64 = 0
    static let mergeWindowNanoseconds: UInt64 = 5_000_000_000

    private struct MergeKey: Hashable {
        var kind: AuditRecord.Kind
        var proto: String
        var address: String
        var port: Int
        var name: String
        var rule: String
    }

    private struct Merge {
        var record: AuditRecord
        var repeats: Int64
        var since: UInt64
    }

    init(writer: AuditWriter, runID: String, agentID: String, owner: UInt32, limits: GuardLimits, now: UInt64) {
        self.writer = writer
        self.runID = runID
        self.agentID = agentID
        self.owner = owner
        bucket = TokenBucket(rate: limits.recordsPerSecond, burst: limits.recordsBurst, now: now)
    }

    /// Whether the guard may let egress happen: its record can be written.
    var mayAllow: Bool { writer.accepting }

    var failure: String? { writer.failure }

    /// A record for this sandbox with the common fields filled.
    func make(_ kind: AuditRecord.Kind, proto: String, allowed: Bool, rule: String, reason: String) -> AuditRecord {
        AuditRecord(time: wallMilliseconds(), runID: runID, agentID: agentID, owner: owner, kind: kind, proto: proto,
                    allowed: allowed, rule: rule, reason: reason)
    }

    /// Writes (or, for a repeated denial, merges) `record`. Returns false when it could not
    /// be queued: the caller must not let the egress it describes happen.
    @discardableResult
    func record(_ record: AuditRecord, now: UInt64) -> Bool {
        if !record.allowed {
            let key = MergeKey(kind: record.kind, proto: record.proto, address: record.address, port: record.port, name: record.name, rule: record.rule)
            if var entry = merged[key], now - entry.since < Self.mergeWindowNanoseconds {
                entry.repeats += record.count
                merged[key] = entry
                mergedAway += record.count
                return true
            }
            if let entry = merged[key] { flush(entry) }
            merged[key] = Merge(record: record, repeats: 0, since: now)
        } else if !bucket.take(now: now) {
            writer.submit(make(.guardEvent, proto: record.proto, allowed: false, rule: "limits.audit-rate",
                               reason: "this sandbox exceeded its audit record rate; egress is refused until it slows down (R19)"))
            return false
        }
        recorded += 1
        return writer.submit(record)
    }

    private func flush(_ entry: Merge) {
        guard entry.repeats > 0 else { return }
        var record = entry.record
        record.count = entry.repeats
        record.time = wallMilliseconds()
        record.reason = "repeated \(entry.repeats) more time(s) within \(Self.mergeWindowNanoseconds / 1_000_000_000) s: " + record.reason
        recorded += 1
        writer.submit(record)
    }

    /// Writes merged counts whose window has passed (all of them when `all`).
    func tick(now: UInt64, all: Bool = false) {
        for (key, entry) in merged where all || now - entry.since >= Self.mergeWindowNanoseconds {
            flush(entry)
            merged[key] = nil
        }
    }
}
