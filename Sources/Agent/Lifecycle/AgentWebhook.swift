import FoundationEssentials
import Glibc
import Policy
import Store
import WardenSystem

/// The external channel: when an agent ends and the policy names `security.webhook`, a JSON
/// notice is posted there by `warden-notify` (libcurl), run as nobody with an empty environment
/// and a time limit. The summary (sizes, diffstat, snippets) is included only when both
/// "display agent summary" toggles allow it. The outcome is recorded in the agent's history.
struct AgentWebhook {
    struct Notice: Encodable {
        var event = "agent.ended"
        var agent: String
        var name: String
        var owner: String
        var repository: String
        var branch: String
        var state: String
        var reason: String
        var ended: Int64
        var privacy: Bool
        var summary: AgentSummary?
        /// Why the summary is absent, when it is.
        var summaryOmitted: String?
    }

    static let timeoutSeconds = 45.0

    static func notice(_ record: AgentRecord, summary: AgentSummary?, policy: OrgPolicy) -> Notice {
        let decision = PolicyEvaluator(policy).maySeeSummary(Principal(uid: record.ownerUID, kind: .stranger), channel: .external)
        return Notice(agent: record.id, name: record.name, owner: record.owner, repository: record.repository, branch: record.branch,
                      state: record.state.rawValue, reason: record.reason, ended: record.updated, privacy: record.privacy,
                      summary: decision.allowed ? summary : nil, summaryOmitted: decision.allowed ? nil : "\(decision.reason) [\(decision.rule)]")
    }

    /// Posts the notice; a line for the agent's history saying what happened.
    static func deliver(_ notice: Notice, to url: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? encoder.encode(notice) else { return "webhook: the notice cannot be encoded" }
        let own = AgentStartService.executable()
        let program = String(own[..<(own.lastIndex(of: "/") ?? own.startIndex)]) + "/warden-notify"
        guard access(program, X_OK) == 0 else { return "webhook: not delivered: \(program) is missing" }
        let result: (status: Int32, stderr: String)
        do {
            // The URL travels on standard input with the notice: it may hold a token, and argv is public.
            result = try ChildProcess.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", program],
                                          input: url + "\n" + String(decoding: body, as: UTF8.self), timeoutSeconds: timeoutSeconds)
        } catch {
            return "webhook: not delivered: \(error.description)"
        }
        let why = stripTerminalControls(result.stderr).split(separator: "\n").last.map(String.init) ?? "exit status \(result.status)"
        switch result.status {
        case 0: return "webhook: notice delivered to \(redacted(url))"
        case 1: return "webhook: \(redacted(url)) refused the notice (\(why))"
        default: return "webhook: not delivered to \(redacted(url)): \(why)"
        }
    }

    /// The URL without its query (which may carry a token) for the history.
    static func redacted(_ url: String) -> String {
        guard let query = url.firstIndex(of: "?") else { return url }
        return String(url[..<query]) + "?…"
    }
}
