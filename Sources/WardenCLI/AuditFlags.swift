import Policy
import Store
import WardenSystem

/// Detection flags as `warden audit --flagged` and `warden audit summary` show them. A flag's
/// severity and action are the first fields of its detail ("severity=high; action=block; …").
enum AuditFlags {
    struct RuleCount: Encodable {
        var rule: String
        var title: String
        var flags: Int64
        var blocked: Int64
        var worst: String
        var runs: Int
    }

    static func field(_ name: String, in detail: String) -> String {
        for part in detail.split(separator: ";") {
            let trimmed = part.drop { $0 == " " }
            if trimmed.hasPrefix(name + "=") { return String(trimmed.dropFirst(name.count + 1).prefix { $0 != " " }) }
        }
        return ""
    }

    static func table(_ records: [StoredAuditRecord]) -> [[String]] {
        var rows = [["TIME", "RUN", "SEVERITY", "RULE", "ACTION", "DESTINATION", "REASON"]]
        for stored in records {
            let r = stored.record
            var destination = r.name.isEmpty ? r.address : r.name
            if r.port > 0 { destination += ":\(r.port)" }
            if !r.method.isEmpty { destination += " \(r.method) \(r.path.prefix(60))" }
            rows.append([Timestamp.text(r.time / 1000), r.runID, field("severity", in: r.detail), r.rule, field("action", in: r.detail),
                         destination, String(r.reason.prefix(160))])
        }
        return rows
    }

    /// Flags counted per rule, in rule order.
    static func perRule(_ records: [StoredAuditRecord]) -> [RuleCount] {
        var counts: [String: (flags: Int64, blocked: Int64, worst: DetectionSeverity?, runs: Set<String>)] = [:]
        for stored in records where stored.record.kind == .flag {
            let r = stored.record
            var entry = counts[r.rule] ?? (0, 0, nil, [])
            entry.flags += r.count
            if !r.allowed { entry.blocked += r.count }
            if let severity = DetectionSeverity(rawValue: field("severity", in: r.detail)), entry.worst.map({ severity > $0 }) ?? true { entry.worst = severity }
            entry.runs.insert(r.runID)
            counts[r.rule] = entry
        }
        let order = { (name: String) -> Int in DetectionRule(id: name)?.rawValue ?? 100 }
        return counts.keys.sorted { order($0) == order($1) ? $0 < $1 : order($0) < order($1) }.compactMap { name in
            guard let entry = counts[name] else { return nil }
            return RuleCount(rule: name, title: DetectionRule(id: name)?.title ?? "", flags: entry.flags, blocked: entry.blocked,
                             worst: entry.worst?.rawValue ?? "", runs: entry.runs.count)
        }
    }
}
