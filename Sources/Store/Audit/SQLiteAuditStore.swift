import Glibc
import WardenSystem

/// The audit log in SQLite (WAL, synchronous=FULL), file mode 0600: one row per record, each
/// carrying the hash that chains it to the row before. Appends take the write lock at BEGIN
/// (IMMEDIATE), read the chain head and insert the batch, so concurrent writers interleave
/// whole batches and never fork the chain. Rows are never updated or deleted by Warden
/// (retention, #8, will cut the chain only at keyed checkpoints).
public final class SQLiteAuditStore: AuditStore {
    public static let schemaVersion = 1
    public static func path(home: String) -> String { home + "/audit.db" }

    private let database: SQLiteDatabase
    private var insert: SQLiteStatement?

    /// Opens the store at `path`; `create` makes it (mode 0600) when missing.
    public init(path: String, readOnly: Bool = false, create: Bool = true) throws(StoreError) {
        database = try SQLiteStoreFile.open(path: path, kind: "audit store", schema: Self.schema, version: Self.schemaVersion,
                                            readOnly: readOnly, create: create)
    }

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
        """

    private static let columns = "seq, time, run_id, agent_id, owner, kind, proto, address, port, name, name_source, method, path, bytes_up, bytes_down, duration_ms, allowed, rule, reason, flags, count, detail, hash"

    @discardableResult
    public func append(_ records: [AuditRecord]) throws(StoreError) -> Int64 {
        guard !records.isEmpty else { return 0 }
        let statement: SQLiteStatement
        if let insert { statement = insert } else {
            statement = try database.prepare("INSERT INTO audit_records (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            insert = statement
        }
        return try database.transaction { () throws(StoreError) -> Int64 in
            let head = try database.query("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").first
            var sequence = head?[0].integer ?? 0
            var previous = head?[1].text ?? AuditChain.genesis
            for record in records {
                sequence += 1
                previous = AuditChain.hash(previous: previous, record)
                try database.run(statement, Self.bindings(sequence, record, previous))
            }
            return sequence
        }
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
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let rows: [[SQLValue]]
        if let limit = query.limit {
            bindings.append(.integer(Int64(limit)))
            rows = try database.query("SELECT \(Self.columns) FROM audit_records\(filter) ORDER BY seq DESC LIMIT ?", bindings).reversed()
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

    /// Walks the whole chain in pages, recomputing every hash from the fields.
    public func verify() throws(StoreError) -> AuditVerification {
        var previous = AuditChain.genesis
        var checked: Int64 = 0
        var after: Int64 = 0
        var expectedSequence: Int64 = 1
        while true {
            let rows = try database.query("SELECT \(Self.columns) FROM audit_records WHERE seq > ? ORDER BY seq LIMIT 5000", [.integer(after)])
            if rows.isEmpty { break }
            for row in rows {
                let stored: StoredAuditRecord
                do { stored = try Self.decode(row) } catch {
                    let sequence = row.first?.integer ?? after + 1
                    return AuditVerification(checked: checked, firstBad: sequence, problem: "record \(sequence) does not decode: \(error.message)", head: previous)
                }
                if stored.sequence != expectedSequence {
                    return AuditVerification(checked: checked, firstBad: stored.sequence,
                                             problem: "records \(expectedSequence)…\(stored.sequence - 1) are missing before record \(stored.sequence)", head: previous)
                }
                let expected = AuditChain.hash(previous: previous, stored.record)
                if expected != stored.hash {
                    return AuditVerification(checked: checked, firstBad: stored.sequence,
                                             problem: "record \(stored.sequence) does not match its hash (changed after it was written, or the one before it was)", head: previous)
                }
                previous = stored.hash
                checked += 1
                expectedSequence += 1
                after = stored.sequence
            }
        }
        return AuditVerification(checked: checked, firstBad: nil, problem: nil, head: previous)
    }

    public func summary(runID: String) throws(StoreError) -> [AuditDestinationSummary] {
        let rows = try database.query("""
            SELECT CASE WHEN name != '' THEN name ELSE address END AS destination, port, proto,
                   sum(count), sum(CASE WHEN allowed = 1 THEN count ELSE 0 END), sum(CASE WHEN allowed = 0 THEN count ELSE 0 END),
                   sum(bytes_up), sum(bytes_down)
            FROM audit_records WHERE run_id = ? AND kind != 'request'
            GROUP BY destination, port, proto ORDER BY sum(bytes_up) + sum(bytes_down) DESC, destination
            """, [.text(runID)])
        return rows.map { row in
            AuditDestinationSummary(destination: row[0].text ?? "", port: Int(row[1].integer ?? 0), proto: row[2].text ?? "",
                                    events: row[3].integer ?? 0, allowed: row[4].integer ?? 0, denied: row[5].integer ?? 0,
                                    bytesUp: row[6].integer ?? 0, bytesDown: row[7].integer ?? 0)
        }
    }
}
