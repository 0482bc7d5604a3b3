import Glibc
import WardenSystem

/// The audit log in SQLite (WAL, synchronous=FULL), file mode 0600: one row per record, each
/// carrying the hash that chains it to the row before. Appends take the write lock at BEGIN
/// (IMMEDIATE), read the chain head and insert the batch, so concurrent writers interleave
/// whole batches and never fork the chain. Writers holding the audit key add keyed checkpoints
/// (`AuditCheckpoint`) every `checkpointRecords` records or `checkpointSeconds` seconds and at
/// every clean stop (R26). Rows are never updated; only the retention purge deletes, a prefix
/// of the chain at a time, and it leaves a keyed checkpoint naming where the kept chain begins.
public final class SQLiteAuditStore: AuditStore {
    public static let schemaVersion = 2
    public static func path(home: String) -> String { home + "/audit.db" }

    private let database: SQLiteDatabase
    private var insert: SQLiteStatement?
    private let key: AuditKey?
    static let redaction = AuditRedaction()
    public var checkpointRecords: Int64 = 10_000
    public var checkpointSeconds: Int64 = 60

    /// Opens the store at `path`; `create` makes it (mode 0600) when missing. `key`: writers
    /// that have it write checkpoints; readers need it to check them.
    public init(path: String, readOnly: Bool = false, create: Bool = true, key: AuditKey? = nil) throws(StoreError) {
        database = try SQLiteStoreFile.open(path: path, kind: "audit store", schema: Self.schema, version: Self.schemaVersion,
                                            readOnly: readOnly, create: create, migrations: [1: Self.checkpointTable])
        self.key = key
    }

    private static let checkpointTable = """
        CREATE TABLE audit_checkpoints (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL,
            time INTEGER NOT NULL,
            reason TEXT NOT NULL,
            first_seq INTEGER NOT NULL,
            anchor_hash TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        """

    private static let schema = """
        CREATE TABLE audit_records (
            seq INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            run_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            owner INTEGER NOT NULL,
            kind TEXT NOT NULL,
            proto TEXT NOT NULL,
            address TEXT NOT NULL,
            port INTEGER NOT NULL,
            name TEXT NOT NULL,
            name_source TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            bytes_up INTEGER NOT NULL,
            bytes_down INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            allowed INTEGER NOT NULL,
            rule TEXT NOT NULL,
            reason TEXT NOT NULL,
            flags TEXT NOT NULL,
            count INTEGER NOT NULL,
            detail TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX audit_records_run ON audit_records(run_id);
        CREATE INDEX audit_records_time ON audit_records(time);
        """ + checkpointTable

    private static let columns = "seq, time, run_id, agent_id, owner, kind, proto, address, port, name, name_source, method, path, bytes_up, bytes_down, duration_ms, allowed, rule, reason, flags, count, detail, hash"

    @discardableResult
    public func append(_ records: [AuditRecord]) throws(StoreError) -> Int64 {
        guard !records.isEmpty else { return 0 }
        let statement = try insertStatement()
        return try database.transaction { () throws(StoreError) -> Int64 in
            let (sequence, previous) = try insertLocked(records, statement)
            if key != nil {
                // Every `checkpointRecords` records, or once `checkpointSeconds` have passed since
                // the last checkpoint (or, before the first, since the first record).
                let last = try lastCheckpoint()
                var since = last?.time ?? wallMilliseconds()
                if last == nil, let first = try database.query("SELECT time FROM audit_records ORDER BY seq LIMIT 1").first?[0].integer { since = first }
                if sequence - (last?.sequence ?? 0) >= checkpointRecords || wallMilliseconds() - since >= checkpointSeconds * 1000 {
                    try writeCheckpoint(reason: "interval", sequence: sequence, hash: previous, anchor: last)
                }
            }
            return sequence
        }
    }

    /// Inside a transaction: chains and inserts `records` after the head; the new head.
    private func insertLocked(_ records: [AuditRecord], _ statement: SQLiteStatement) throws(StoreError) -> (Int64, String) {
        let head = try database.query("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").first
        var sequence = head?[0].integer ?? 0
        var previous = head?[1].text ?? AuditChain.genesis
        for given in records {
            // Redacted before storage (R25), and the chain covers what is stored.
            let record = Self.redaction.apply(given)
            sequence += 1
            previous = AuditChain.hash(previous: previous, record)
            try database.run(statement, Self.bindings(sequence, record, previous))
        }
        return (sequence, previous)
    }

    private func insertStatement() throws(StoreError) -> SQLiteStatement {
        if let insert { return insert }
        let statement = try database.prepare("INSERT INTO audit_records (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        insert = statement
        return statement
    }

    /// Retention (R26 holds across it): removes the records older than `cutoff` (ms since the
    /// epoch) as a prefix of the chain — up to the record before the first one at or after the
    /// cutoff — then records the purge in the log itself and leaves a keyed checkpoint naming
    /// where the kept chain now begins and the hash it chains from, so what remains still
    /// verifies. Refused without the key, and when the chain does not verify (a purge must not
    /// erase the evidence of tampering). Nil when nothing is old enough.
    public func purge(before cutoff: Int64, record: (_ first: Int64, _ last: Int64, _ count: Int64) -> AuditRecord) throws(StoreError) -> AuditPurge? {
        guard key != nil else { throw StoreError(.unavailable, "purging the audit log needs the audit key") }
        guard try purgeable(before: cutoff) != nil else { return nil }
        let verification = try verify()
        if let problem = verification.problem {
            throw StoreError(.corrupt, "the audit chain does not verify, so nothing is purged: \(problem)")
        }
        let statement = try insertStatement()
        return try database.transaction { () throws(StoreError) -> AuditPurge? in
            guard let purge = try purgeable(before: cutoff),
                  let anchor = try database.query("SELECT hash FROM audit_records WHERE seq = ?", [.integer(purge.last)]).first?[0].text else {
                return nil
            }
            let (lowest, last, count) = (purge.first, purge.last, purge.count)
            try database.query("DELETE FROM audit_records WHERE seq <= ?", [.integer(last)])
            let (sequence, hash) = try insertLocked([record(lowest, last, count)], statement)
            try database.query("DELETE FROM audit_checkpoints WHERE seq <= ?", [.integer(last)])
            try writeCheckpoint(reason: "purge", sequence: sequence, hash: hash, anchor: nil, firstSequence: last + 1, anchorHash: anchor)
            return AuditPurge(first: lowest, last: last, count: count)
        }
    }

    /// What a purge at `cutoff` would remove (nil: nothing is old enough): the prefix of the
    /// chain before the first record at or after the cutoff.
    /// Only records a keyed checkpoint already vouches for go (times are fields anyone with
    /// write access could change), at most `purgeChunk` at a time so that the write lock is
    /// held briefly (the sweep comes back every 30 s).
    public func purgeable(before cutoff: Int64) throws(StoreError) -> AuditPurge? {
        let bounds = try database.query("SELECT min(seq), max(seq) FROM audit_records").first
        guard let lowest = bounds?[0].integer, let highest = bounds?[1].integer else { return nil }
        let keepFrom = try database.query("SELECT min(seq) FROM audit_records WHERE time >= ?", [.integer(cutoff)]).first?[0].integer ?? highest + 1
        let covered = try lastCheckpoint()?.sequence ?? 0
        let last = min(keepFrom - 1, covered, lowest + Self.purgeChunk - 1)
        return last >= lowest ? AuditPurge(first: lowest, last: last, count: last - lowest + 1) : nil
    }

    static let purgeChunk: Int64 = 50_000

    /// A keyed checkpoint of the chain's head now (a writer's clean stop, a purge, `warden audit
    /// head`). Nothing when the log is empty or this store has no key.
    public func checkpoint(reason: String) throws(StoreError) {
        guard key != nil else { return }
        try database.transaction { () throws(StoreError) in
            guard let head = try database.query("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").first,
                  let sequence = head[0].integer, let hash = head[1].text else { return }
            let last = try lastCheckpoint()
            if let last, last.sequence == sequence, last.hash == hash, reason != "purge" { return }
            try writeCheckpoint(reason: reason, sequence: sequence, hash: hash, anchor: last)
        }
    }

    /// The newest checkpoint, if any.
    func lastCheckpoint() throws(StoreError) -> AuditCheckpoint? {
        try checkpoints(newestOnly: true).first
    }

    public func checkpoints(newestOnly: Bool = false) throws(StoreError) -> [AuditCheckpoint] {
        let rows = try database.query("SELECT id, seq, hash, time, reason, first_seq, anchor_hash, mac FROM audit_checkpoints ORDER BY id"
                                      + (newestOnly ? " DESC LIMIT 1" : ""))
        return rows.map { row in
            AuditCheckpoint(id: row[0].integer ?? 0, sequence: row[1].integer ?? 0, hash: row[2].text ?? "", time: row[3].integer ?? 0,
                            reason: row[4].text ?? "", firstSequence: row[5].integer ?? 0, anchorHash: row[6].text ?? "", mac: row[7].text ?? "")
        }
    }

    /// Inside a transaction: the kept chain still begins where the last checkpoint said (or at
    /// the first record, from genesis), unless `firstSequence` says otherwise (a purge).
    private func writeCheckpoint(reason: String, sequence: Int64, hash: String, anchor last: AuditCheckpoint?,
                                 firstSequence: Int64? = nil, anchorHash: String? = nil) throws(StoreError) {
        guard let key else { return }
        var checkpoint = AuditCheckpoint(id: 0, sequence: sequence, hash: hash, time: wallMilliseconds(), reason: reason,
                                         firstSequence: firstSequence ?? last?.firstSequence ?? 1,
                                         anchorHash: anchorHash ?? last?.anchorHash ?? AuditChain.genesis, mac: "")
        checkpoint.mac = key.mac(AuditCheckpoint.purpose, checkpoint.macFields)
        // Beside the key, outside the home: what deleting the newest checkpoints cannot undo.
        // Written under the write lock, so concurrent writers never move it backwards.
        try key.saveAnchor(AuditHead(sequence: sequence, hash: hash, time: checkpoint.time, key: key))
        try database.query("INSERT INTO audit_checkpoints (seq, hash, time, reason, first_seq, anchor_hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [.integer(checkpoint.sequence), .text(checkpoint.hash), .integer(checkpoint.time), .text(checkpoint.reason),
                              .integer(checkpoint.firstSequence), .text(checkpoint.anchorHash), .text(checkpoint.mac)])
    }

    /// The chain's head now, as a keyed statement to keep elsewhere (nil: the log is empty).
    /// A checkpoint is written with it, so the log itself also remembers this point.
    public func exportHead() throws(StoreError) -> AuditHead? {
        guard let key else { throw StoreError(.unavailable, "exporting a head needs the audit key") }
        try checkpoint(reason: "head")
        guard let head = try database.query("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").first,
              let sequence = head[0].integer, let hash = head[1].text else { return nil }
        return AuditHead(sequence: sequence, hash: hash, time: wallMilliseconds(), key: key)
    }

    private static func bindings(_ sequence: Int64, _ r: AuditRecord, _ hash: String) -> [SQLValue] {
        [.integer(sequence), .integer(r.time), .text(r.runID), .text(r.agentID), .integer(Int64(r.owner)), .text(r.kind.rawValue),
         .text(r.proto), .text(r.address), .integer(Int64(r.port)), .text(r.name), .text(r.nameSource), .text(r.method), .text(r.path),
         .integer(r.bytesUp), .integer(r.bytesDown), .integer(r.durationMilliseconds), .integer(r.allowed ? 1 : 0), .text(r.rule),
         .text(r.reason), .text(r.flags), .integer(r.count), .text(r.detail), .text(hash)]
    }

    public func records(_ query: AuditQuery) throws(StoreError) -> [StoredAuditRecord] {
        var conditions: [String] = []
        var bindings: [SQLValue] = []
        if let run = query.runID { conditions.append("run_id = ?"); bindings.append(.text(run)) }
        if let agent = query.agentID { conditions.append("agent_id = ?"); bindings.append(.text(agent)) }
        if let since = query.since { conditions.append("time >= ?"); bindings.append(.integer(since)) }
        if let allowed = query.allowed { conditions.append("allowed = ?"); bindings.append(.integer(allowed ? 1 : 0)) }
        if query.flaggedOnly { conditions.append("kind = 'flag'") }
        if let owner = query.owner { conditions.append("owner = ?"); bindings.append(.integer(Int64(owner))) }
        if let after = query.after { conditions.append("seq > ?"); bindings.append(.integer(after)) }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let rows: [[SQLValue]]
        if let limit = query.limit, query.pageSize == nil {
            bindings.append(.integer(Int64(limit)))
            rows = try database.query("SELECT \(Self.columns) FROM audit_records\(filter) ORDER BY seq DESC LIMIT ?", bindings).reversed()
        } else if let page = query.pageSize {
            bindings.append(.integer(Int64(page)))
            rows = try database.query("SELECT \(Self.columns) FROM audit_records\(filter) ORDER BY seq LIMIT ?", bindings)
        } else {
            rows = try database.query("SELECT \(Self.columns) FROM audit_records\(filter) ORDER BY seq", bindings)
        }
        var result: [StoredAuditRecord] = []
        result.reserveCapacity(rows.count)
        for row in rows { result.append(try Self.decode(row)) }
        return result
    }

    private static func decode(_ row: [SQLValue]) throws(StoreError) -> StoredAuditRecord {
        func text(_ index: Int) throws(StoreError) -> String {
            guard index < row.count, let value = row[index].text else { throw StoreError(.corrupt, "an audit row has a missing or mistyped field \(index)") }
            return value
        }
        func number(_ index: Int) throws(StoreError) -> Int64 {
            guard index < row.count, let value = row[index].integer else { throw StoreError(.corrupt, "an audit row has a missing or mistyped field \(index)") }
            return value
        }
        guard let kind = AuditRecord.Kind(rawValue: try text(5)) else { throw StoreError(.corrupt, "an audit row has an unknown kind") }
        let record = AuditRecord(
            time: try number(1), runID: try text(2), agentID: try text(3), owner: UInt32(truncatingIfNeeded: try number(4)), kind: kind,
            proto: try text(6), address: try text(7), port: Int(try number(8)), name: try text(9), nameSource: try text(10),
            method: try text(11), path: try text(12), bytesUp: try number(13), bytesDown: try number(14),
            durationMilliseconds: try number(15), allowed: try number(16) != 0, rule: try text(17), reason: try text(18),
            flags: try text(19), count: try number(20), detail: try text(21))
        return StoredAuditRecord(sequence: try number(0), record: record, hash: try text(22))
    }

    /// Walks the whole chain in pages, recomputing every hash from the fields, and holds it
    /// against every keyed checkpoint (and `head`, an exported head): an edited record, a
    /// rewritten chain, a deleted range and a cut tail are each named. Without the key only
    /// the chain is checked, and the result says so.
    public func verify(head: AuditHead? = nil) throws(StoreError) -> AuditVerification {
        // One read transaction: a purge or an append meanwhile is not seen half done.
        try database.execute("BEGIN")
        defer { try? database.execute("COMMIT") }
        return try verifyLocked(head: head)
    }

    private func verifyLocked(head: AuditHead?) throws(StoreError) -> AuditVerification {
        var result = AuditVerification(checked: 0, firstBad: nil, problem: nil, head: AuditChain.genesis)
        func broken(_ sequence: Int64?, _ problem: String) -> AuditVerification {
            result.firstBad = sequence ?? 0
            result.problem = problem
            return result
        }
        let checkpoints = try self.checkpoints()
        result.checkpoints = checkpoints.count
        result.keyed = key != nil
        if let key {
            for checkpoint in checkpoints where !checkpoint.isGenuine(key) {
                return broken(checkpoint.sequence, "checkpoint \(checkpoint.id) (\(checkpoint.reason), record \(checkpoint.sequence)) is not genuine: its MAC does not match, so it was written or changed without Warden's audit key")
            }
            if let head, !head.isGenuine(key) { return broken(head.sequence, "the exported head is not genuine: its MAC does not match Warden's audit key") }
            if let anchor = key.anchor(), !anchor.isGenuine(key) {
                return broken(anchor.sequence, "the anchor \(key.anchorPath ?? "") is not genuine: its MAC does not match Warden's audit key")
            }
        }
        // Where the kept chain begins: the newest checkpoint says (a purge moves it on).
        let anchor = checkpoints.last
        let firstSequence = anchor?.firstSequence ?? 1
        var previous = anchor?.anchorHash ?? AuditChain.genesis
        let bounds = try database.query("SELECT min(seq), max(seq) FROM audit_records").first
        let lowest = bounds?[0].integer, highest = bounds?[1].integer ?? 0
        if let lowest, lowest < firstSequence {
            return broken(lowest, "records \(lowest)…\(firstSequence - 1) should not exist: keyed checkpoint \(anchor?.id ?? 0) says retention removed them")
        }
        var expectedAt: [Int64: AuditCheckpoint] = [:]
        for checkpoint in checkpoints where checkpoint.sequence >= firstSequence && expectedAt[checkpoint.sequence] == nil { expectedAt[checkpoint.sequence] = checkpoint }
        // The exported head, and the anchor every checkpoint leaves beside the key (outside the
        // home): both must still be in the log, and what they say must hold.
        var heads: [(head: AuditHead, source: String)] = []
        if let head { heads.append((head, "the exported head")) }
        if let saved = key?.anchor() { heads.append((saved, "the anchor beside the audit key")) }
        for (given, source) in heads {
            guard given.sequence >= firstSequence else {
                return broken(given.sequence, "\(source) names record \(given.sequence), which is no longer in the log (it now begins at record \(firstSequence)); it cannot be checked, so the log is not vouched for: export a newer head")
            }
            expectedAt[given.sequence] = expectedAt[given.sequence] ?? AuditCheckpoint(
                id: 0, sequence: given.sequence, hash: given.hash, time: given.time, reason: source, firstSequence: firstSequence, anchorHash: "", mac: "")
        }
        var after = firstSequence - 1
        var expectedSequence = firstSequence
        while true {
            let rows = try database.query("SELECT \(Self.columns) FROM audit_records WHERE seq > ? ORDER BY seq LIMIT 5000", [.integer(after)])
            if rows.isEmpty { break }
            for row in rows {
                let stored: StoredAuditRecord
                do { stored = try Self.decode(row) } catch {
                    let sequence = row.first?.integer ?? after + 1
                    return broken(sequence, "record \(sequence) does not decode: \(error.message)")
                }
                if stored.sequence != expectedSequence {
                    return broken(stored.sequence, "records \(expectedSequence)…\(stored.sequence - 1) are missing before record \(stored.sequence): deleted")
                }
                if AuditChain.hash(previous: previous, stored.record) != stored.hash {
                    return broken(stored.sequence, "record \(stored.sequence) does not match its hash: it (or the one before it) was changed after it was written")
                }
                if let expected = expectedAt[stored.sequence], expected.hash != stored.hash {
                    let source = expected.id == 0 ? "\(expected.reason) (\(Timestamp.text(expected.time / 1000)))"
                        : "keyed checkpoint \(expected.id) (\(expected.reason), \(Timestamp.text(expected.time / 1000)))"
                    return broken(stored.sequence, "the chain was rewritten: record \(stored.sequence)'s hash differs from \(source); the records were re-hashed without the key")
                }
                previous = stored.hash
                result.checked += 1
                expectedSequence += 1
                after = stored.sequence
            }
        }
        result.head = previous
        for (given, source) in heads where given.sequence > highest {
            return broken(highest + 1, "the log was truncated: \(source) (\(Timestamp.text(given.time / 1000))) names record \(given.sequence), but the log ends at record \(highest)")
        }
        if let newest = checkpoints.max(by: { $0.sequence < $1.sequence }), newest.sequence > highest {
            return broken(highest + 1, "the log was truncated: keyed checkpoint \(newest.id) (\(newest.reason), \(Timestamp.text(newest.time / 1000))) covers record \(newest.sequence), but the log ends at record \(highest)")
        }
        return result
    }

    /// Whose records a run or an agent has (R25: a member naming another person's run is refused).
    public func owners(runID: String?, agentID: String?) throws(StoreError) -> Set<UInt32> {
        var conditions: [String] = [], bindings: [SQLValue] = []
        if let runID { conditions.append("run_id = ?"); bindings.append(.text(runID)) }
        if let agentID { conditions.append("agent_id = ?"); bindings.append(.text(agentID)) }
        guard !conditions.isEmpty else { return [] }
        let rows = try database.query("SELECT DISTINCT owner FROM audit_records WHERE " + conditions.joined(separator: " AND "), bindings)
        return Set(rows.compactMap { $0.first?.integer.map { UInt32(truncatingIfNeeded: $0) } })
    }

    /// `owner`: only that uid's records (a member's view).
    public func summary(runID: String, owner: UInt32? = nil) throws(StoreError) -> [AuditDestinationSummary] {
        let rows = try database.query("""
            SELECT CASE WHEN name != '' THEN name ELSE address END AS destination, port, proto,
                   sum(count), sum(CASE WHEN allowed = 1 THEN count ELSE 0 END), sum(CASE WHEN allowed = 0 THEN count ELSE 0 END),
                   sum(bytes_up), sum(bytes_down)
            FROM audit_records WHERE run_id = ? AND kind != 'request'\(owner == nil ? "" : " AND owner = ?")
            GROUP BY destination, port, proto ORDER BY sum(bytes_up) + sum(bytes_down) DESC, destination
            """, [.text(runID)] + (owner.map { [.integer(Int64($0))] } ?? []))
        return rows.map { row in
            AuditDestinationSummary(destination: row[0].text ?? "", port: Int(row[1].integer ?? 0), proto: row[2].text ?? "",
                                    events: row[3].integer ?? 0, allowed: row[4].integer ?? 0, denied: row[5].integer ?? 0,
                                    bytesUp: row[6].integer ?? 0, bytesDown: row[7].integer ?? 0)
        }
    }
}
