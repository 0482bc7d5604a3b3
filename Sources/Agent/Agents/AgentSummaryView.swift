import Policy
import WardenSystem

/// How `warden agent show` presents an agent's summary: the size of the change and the network
/// totals to whoever may see the agent; the diffstat and snippets only where the policy's
/// "display agent summary" allows and the viewer may read the agent's content (R25).
enum AgentSummaryView {
    /// The summary with what the viewer may not see removed.
    static func visible(_ summary: AgentSummary?, diffs: Decision) -> AgentSummary? {
        guard var summary else { return nil }
        if !diffs.allowed {
            summary.diffStat = ""
            summary.snippets = nil
        }
        return summary
    }

    static func lines(_ summary: AgentSummary?, diffs: Decision, privacy: Bool) -> [String] {
        guard let summary else { return [] }
        var lines = ["changes     \(summary.shortStat)"]
        if summary.network == nil { lines.append("network     none: the sandbox had no network") }
        if let network = summary.network {
            lines.append("network     \(network.mode): \(network.connections) connections (\(network.allowed) allowed, \(network.refused) refused), "
                         + "\(network.dnsQueries) DNS queries (\(network.dnsRefused) refused), \(network.bytesUp) bytes up, \(network.bytesDown) bytes down")
            if let flags = network.flags {
                lines.append("flags       \(flags) exfiltration detection flag\(flags == 1 ? "" : "s")" + (flags > 0 ? " (warden audit --flagged --run ID)" : ""))
            }
            if let stopped = network.stoppedBy { lines.append("            \(stripTerminalControls(stopped))") }
        }
        guard diffs.allowed else {
            lines.append("            (diffstat and snippets hidden: \(diffs.reason) [\(diffs.rule)])")
            return lines
        }
        for line in summary.diffStat.split(separator: "\n") { lines.append("  " + stripTerminalControls(String(line))) }
        if let snippets = summary.snippets, !snippets.isEmpty {
            lines.append("snippets")
            lines += snippets.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + stripTerminalControls(String($0)) }
        } else if privacy {
            lines.append("snippets    none kept (privacy mode)")
        }
        return lines
    }
}
