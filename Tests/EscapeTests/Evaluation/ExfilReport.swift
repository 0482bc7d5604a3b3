import Foundation

/// What one session of the evaluation raised, read from its audit records.
struct SessionOutcome {
    var session: ExfilSession
    /// Rules (DETECTION.md numbers) flagged in the session.
    var rules: Set<Int>
    var flags: Int
    /// From the guard's start to the first flag.
    var millisecondsToFirstFlag: Int?
    /// Bytes the sandbox had sent when the first flag was raised.
    var bytesBeforeFirstFlag: Int?
    /// DNS queries up to and including the one first flagged (DNS flags only).
    var queriesToFirstDNSFlag: Int?
    var output: String

    var flagged: Bool { flags > 0 }

    /// Reads a run's records (`warden audit --json`, oldest first).
    init(_ session: ExfilSession, records: [[String: Any]], output: String) {
        self.session = session
        self.output = output
        let flagRecords = records.filter { $0["kind"] as? String == "flag" }
        flags = flagRecords.count
        rules = Set(flagRecords.compactMap { record in (record["rule"] as? String).flatMap(Self.ruleNumber) })
        guard let first = flagRecords.first, let firstSequence = first["sequence"] as? Int else { return }
        let start = records.first.flatMap { Self.milliseconds($0["time"]) }
        if let start, let at = Self.milliseconds(first["time"]) { millisecondsToFirstFlag = max(0, at - start) }
        let earlier = records.filter { ($0["sequence"] as? Int ?? 0) < firstSequence && $0["kind"] as? String == "connection" }
        bytesBeforeFirstFlag = earlier.reduce(0) { $0 + ($1["bytesUp"] as? Int ?? 0) } + (first["bytesUp"] as? Int ?? 0)
        if let dnsFlag = flagRecords.first(where: { $0["port"] as? Int == 53 }), let sequence = dnsFlag["sequence"] as? Int {
            queriesToFirstDNSFlag = records.filter { $0["kind"] as? String == "dns" && ($0["sequence"] as? Int ?? 0) < sequence }.count + 1
        }
    }

    static func ruleNumber(_ name: String) -> Int? {
        let parts = name.split(separator: ".")
        guard parts.count >= 2, parts[0] == "exfil" else { return nil }
        return Int(parts[1])
    }

    static func milliseconds(_ value: Any?) -> Int? {
        guard let text = value as? String else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
        return date.map { Int($0.timeIntervalSince1970 * 1000) }
    }
}

/// Per-rule results: recall over the sessions that must raise the rule, and flags on benign
/// sessions (false positives).
struct RuleOutcome {
    var rule: Int
    var expected: Int
    var detected: Int
    var benignFlags: Int
    var recall: Double? { expected == 0 ? nil : Double(detected) / Double(expected) }
}

enum ExfilReport {
    static let ruleNames = [1: "destination-not-allowed", 2: "internal-address", 3: "host-mismatch", 4: "exfil-service", 5: "raw-address",
                            6: "uncommon-port", 7: "write-method", 8: "planted-value", 9: "secret-pattern", 10: "high-entropy",
                            11: "upload-volume", 12: "upload-asymmetry", 13: "dns-long-name", 14: "dns-subdomains", 15: "dns-tunnel-type",
                            16: "dns-large-answer", 17: "dns-volume", 18: "encoding-marker", 19: "nxdomain-burst"]

    static func rules(_ outcomes: [SessionOutcome]) -> [RuleOutcome] {
        (1...19).map { rule in
            let expecting = outcomes.filter { $0.session.expected.contains(rule) }
            return RuleOutcome(rule: rule, expected: expecting.count, detected: expecting.filter { $0.rules.contains(rule) }.count,
                               benignFlags: outcomes.filter { $0.session.kind == .benign && $0.rules.contains(rule) }.count)
        }
    }

    static func text(_ outcomes: [SessionOutcome], seconds: Double) -> String {
        let benign = outcomes.filter { $0.session.kind == .benign }, malicious = outcomes.filter { $0.session.kind == .malicious }
        var lines = ["Exfiltration detection evaluation: \(benign.count) benign and \(malicious.count) malicious sessions, each a real program in a sandbox (network mode monitor), \(Int(seconds)) s",
                     ""]
        var table = [["SESSION", "KIND", "FLAGGED", "RULES", "1ST FLAG ms", "BYTES UP BEFORE", "DNS QUERIES TO FLAG"]]
        for outcome in outcomes {
            table.append([outcome.session.name, outcome.session.kind.rawValue, outcome.flagged ? "yes" : "no",
                          outcome.rules.isEmpty ? "-" : outcome.rules.sorted().map(String.init).joined(separator: ","),
                          outcome.millisecondsToFirstFlag.map(String.init) ?? "-", outcome.bytesBeforeFirstFlag.map(String.init) ?? "-",
                          outcome.queriesToFirstDNSFlag.map(String.init) ?? "-"])
        }
        lines += render(table)
        lines.append("")
        var rules = [["RULE", "SESSIONS EXPECTING", "DETECTED", "RECALL", "FALSE POSITIVES (benign sessions)"]]
        for rule in Self.rules(outcomes) {
            rules.append(["\(rule.rule) \(ruleNames[rule.rule] ?? "")", "\(rule.expected)", "\(rule.detected)",
                          rule.recall.map { String(format: "%.2f", $0) } ?? "n/a", "\(rule.benignFlags)"])
        }
        lines += render(rules)
        let caught = malicious.filter(\.flagged).count
        let falseAlarms = benign.filter(\.flagged).count
        lines.append("")
        lines.append("malicious sessions flagged: \(caught)/\(malicious.count); benign sessions flagged: \(falseAlarms)/\(benign.count) (\(String(format: "%.1f", Double(falseAlarms) * 100 / Double(max(1, benign.count)))) per 100)")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func render(_ rows: [[String]]) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0) }
                .joined()
        }
    }
}
