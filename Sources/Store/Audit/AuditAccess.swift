/// Reads of the audit log that must themselves be recorded (R25): an auditor's or admin's read
/// that returned records of other people's runs and agents.
public enum AuditAccess {
    /// The record of such a read; nil when every record read was the reader's own.
    public static func readRecord(readerUID: UInt32, reader: String, role: String, filters: String,
                                  records: [StoredAuditRecord], now: Int64) -> AuditRecord? {
        let others = records.filter { $0.record.owner != readerUID }
        guard let first = others.first, let last = others.last else { return nil }
        let owners = Set(others.map(\.record.owner)).sorted().prefix(20).map(String.init).joined(separator: ",")
        return AuditRecord(time: now, runID: "", owner: readerUID, kind: .access, proto: "", allowed: true, rule: "audit.read",
                           reason: "\(reader) (\(role)) read \(others.count) audit record\(others.count == 1 ? "" : "s") of other people's runs (uids \(owners))",
                           count: Int64(others.count), detail: "filters=\(filters.isEmpty ? "none" : filters); records=\(first.sequence)…\(last.sequence)")
    }

    /// Appends an access record to the log in `home`, with its key (so checkpoints go on):
    /// the one way reads, summaries and stream starts are recorded before anything is shown.
    public static func record(_ record: AuditRecord, home: String) throws(StoreError) {
        try SQLiteAuditStore(path: SQLiteAuditStore.path(home: home), create: false, key: try AuditKey.load(home: home)).append([record])
    }

    /// A query's filters as the access record states them.
    public static func describe(_ query: AuditQuery) -> String {
        var parts: [String] = []
        if let run = query.runID { parts.append("run=\(run)") }
        if let agent = query.agentID { parts.append("agent=\(agent)") }
        if let since = query.since { parts.append("since=\(since)") }
        if let allowed = query.allowed { parts.append("decision=\(allowed ? "allow" : "deny")") }
        if query.flaggedOnly { parts.append("flagged") }
        if let limit = query.limit { parts.append("limit=\(limit)") }
        return parts.joined(separator: " ")
    }
}
