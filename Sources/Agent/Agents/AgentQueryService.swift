import FoundationEssentials
import Policy
import Store
import WardenSystem

/// `warden agent list` and `warden agent show`, answered by the supervisor: each agent is shown
/// only to whom the policy lets see it (R25: owners, admins, auditors; members per
/// `visibility.agents`), and everything taken from an agent is stripped of terminal controls
/// before it reaches a terminal (R13).
public struct AgentQueryService: Sendable {
    public let home: String

    public init(home: String) {
        self.home = home
    }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        let context: CallerPolicy
        do throws(SupervisorResponse.Failure) { context = try CallerPolicy.resolveUser(home: home, uid: callerUID) } catch { return error.response }
        let evaluator = context.evaluator, caller = context.caller
        let arguments = request.arguments
        var state: AgentState?
        if let text = arguments["state"] {
            guard let parsed = AgentState(rawValue: text) else {
                return .failure(125, "warden: --state \(text.prefix(40)): expected one of \(AgentState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = parsed
        }
        let json = arguments["json"] == "true"
        do throws(StoreError) {
            let store = try AgentStore.existing(home: home)
            switch request.operation {
            case "agent.list":
                let all = try store?.list(state: state, search: arguments["search"], includeEnded: arguments["all"] == "true") ?? []
                let visible = all.filter { evaluator.mayAct(caller, .see, agent: AgentRef(id: $0.id, owner: $0.owner)).allowed }
                return SupervisorResponse(output: json ? Self.json(visible) : AgentListing.table(visible))
            case "agent.show":
                let id = arguments["id"] ?? ""
                guard let store, let record = try store.get(id) else { return .failure(1, "warden: no agent \(stripTerminalControls(String(id.prefix(64))))") }
                let decision = evaluator.mayAct(caller, .see, agent: AgentRef(id: record.id, owner: record.owner))
                guard decision.allowed else { return .failure(123, "warden: refused: \(decision.reason) [\(decision.rule)]") }
                let history = try store.history(id)
                // Diffs and snippets: the display toggle, and the agent's content is the viewer's to read.
                var diffs = evaluator.maySeeSummary(caller, channel: .app)
                if diffs.allowed { diffs = evaluator.mayAct(caller, .readContent, agent: AgentRef(id: record.id, owner: record.owner)) }
                let summary = AgentSummaryView.visible(AgentSummary.read(AgentLayout(home: home).summary(record.id)), diffs: diffs)
                return SupervisorResponse(output: json ? Self.json(AgentDetail(agent: record, history: history, summary: summary))
                                                       : AgentListing.detail(record, history, summary: summary, diffs: diffs))
            default:
                return .failure(125, "warden: unknown operation \(request.operation)")
            }
        } catch {
            return .failure(122, "warden: the agent store cannot be read: \(error.message)")
        }
    }

    struct AgentDetail: Encodable {
        var agent: AgentRecord
        var history: [AgentEvent]
        var summary: AgentSummary?
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let data = try? encoder.encode(value) else { return "null\n" }
        // JSON escapes control characters, so this output carries no terminal escapes.
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// How agents are printed.
enum AgentListing {
    static func table(_ agents: [AgentRecord]) -> String {
        guard !agents.isEmpty else { return "no agents\n" }
        var rows = [["ID", "NAME", "STATE", "OWNER", "REPOSITORY", "BRANCH", "UPDATED"]]
        for agent in agents {
            rows.append([agent.id, agent.name.isEmpty ? "-" : agent.name, agent.state.rawValue, agent.owner, agent.repository, agent.branch,
                         Timestamp.text(agent.updated / 1000)])
        }
        return TextTable.render(rows)
    }

    static func detail(_ agent: AgentRecord, _ history: [AgentEvent], summary: AgentSummary? = nil, diffs: Decision? = nil) -> String {
        var lines = [
            "agent       \(agent.id)\(agent.name.isEmpty ? "" : " (\(agent.name))")",
            "state       \(agent.state.rawValue): \(agent.reason)",
            "owner       \(agent.owner) (uid \(agent.ownerUID))",
            "repository  \(agent.repository)",
            "branch      \(agent.branch) from \(agent.baseBranch)",
            "model       \(agent.model.isEmpty ? "-" : agent.model)",
            "privacy     \(agent.privacy ? "on" : "off") (locked at start, policy version \(agent.policyVersion))",
            "data        \(agent.dataRemoved ? "removed" : "kept")",
        ]
        if let diffs { lines += AgentSummaryView.lines(summary, diffs: diffs, privacy: agent.privacy) }
        lines.append("history")
        for event in history {
            lines.append("  \(Timestamp.text(event.time / 1000))  \(event.state.rawValue)\(event.reason.isEmpty ? "" : "  \(event.reason)")")
        }
        return lines.map { stripTerminalControls($0).replacing("\n", with: " ").replacing("\t", with: " ") }.joined(separator: "\n") + "\n"
    }
}
