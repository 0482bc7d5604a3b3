import Policy
import Store
import WardenSystem

/// Flags as audit records: one per rule firing, linked to its connection or query, with its
/// severity, the action carried out and the redacted evidence. A rule firing again on the same
/// connection or domain within a minute is counted into the next record rather than written.
extension SandboxGuard {
    /// Writes the findings' flags, stops the sandbox when an action says so, and returns the
    /// action for the traffic (`record` when detection is off).
    func flag(_ findings: [DetectionFinding], context: AuditRecord, scope: String, link: String, now: UInt64) -> DetectionAction {
        guard let detector, !findings.isEmpty else { return .record }
        let action = detector.action(for: findings)
        for finding in findings {
            let (write, suppressed) = detector.shouldWrite("\(finding.rule.rawValue)|\(scope)", now: now)
            guard write else { continue }
            let ruleAction = detector.policy.action(finding.rule, mode: detector.mode)
            let configured = detector.policy.configuredAction(finding.rule)
            var record = context
            record.kind = .flag
            record.time = wallMilliseconds()
            record.allowed = action == .record
            record.rule = finding.rule.recordName
            record.reason = finding.reason
            record.flags = finding.rule.recordName
            record.count = 1
            var detail = "severity=\(finding.severity.rawValue); action=\(ruleAction.rawValue)"
            if ruleAction != configured { detail += " (network mode \(detector.mode.rawValue) records only; configured \(configured.rawValue))" }
            if !finding.evidence.isEmpty { detail += "; " + finding.evidence }
            detail += "; " + link
            if suppressed > 0 { detail += "; earlier-unwritten=\(suppressed)" }
            record.detail = detail
            recorder.record(record, now: now)
            stats.flags += 1
        }
        if action == .stop, let stopping = findings.first(where: { detector.policy.action($0.rule, mode: detector.mode) == .stop }) {
            detector.stop(because: stopping)
        }
        return action
    }
}

extension Verdict {
    /// The verdict with the findings' rules in its flags and, when the action blocks or stops
    /// and `refuse` says the traffic was going to pass, turned into a refusal by the first
    /// finding whose action is not `record`.
    func flagged(_ findings: [DetectionFinding], action: DetectionAction, detector: SandboxDetector, refuse: Bool) -> Verdict {
        var result = self
        result.flags += findings.map(\.rule.recordName).filter { !result.flags.contains($0) }
        guard action != .record, refuse, let first = findings.first else { return result }
        let blocking = findings.first { detector.policy.action($0.rule, mode: detector.mode) != .record } ?? first
        result.allowed = false
        result.rule = blocking.rule.recordName
        result.reason = blocking.reason + (action == .stop ? "; the sandbox is stopped" : "")
        return result
    }
}
