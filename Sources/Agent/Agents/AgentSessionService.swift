import FoundationEssentials
import Policy
import Store
import WardenSystem

/// `warden agent attach|terminals|ports`, answered by the supervisor. The policy decides who may
/// take over a running agent (its owner and admins, R25) and every decision is recorded, in the
/// decision journal and in the agent's history. The agent's owner process then does the work
/// inside the sandbox (`AgentSession`) and hands back a descriptor — a terminal's master or a
/// connection — that is passed on to the caller beside the answer.
public struct AgentSessionService: Sendable {
    public let home: String

    public init(home: String) {
        self.home = home
    }

    var layout: AgentLayout { AgentLayout(home: home) }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        let id = request.arguments["id"] ?? ""
        let (context, store, record): (CallerPolicy, AgentStore, AgentRecord)
        do throws(SupervisorResponse.Failure) { (context, store, record) = try CallerPolicy.agentRequest(home: home, uid: callerUID, id: id) } catch {
            return error.response
        }
        let arguments = request.arguments
        let action: String
        let forwarded: SupervisorRequest
        switch request.operation {
        case "agent.attach":
            action = "agent attach \(id)"
            forwarded = SupervisorRequest(operation: "session.shell", arguments: Self.terminalArguments(arguments))
        case "agent.terminals" where arguments["name"] == nil, "agent.ports" where arguments["port"] == nil:
            action = "agent \(request.operation.dropFirst(6)) \(id)"
            forwarded = SupervisorRequest(operation: "session.describe")
        case "agent.terminals":
            let name = arguments["name"] ?? ""
            guard AgentTerminal.isValidSession(name) else {
                return .failure(125, "warden: \(stripTerminalControls(String(name.prefix(64)))) is not a terminal name (see `warden agent terminals \(id)`)")
            }
            action = "agent terminal \(id) \(name)"
            var forwardedArguments = Self.terminalArguments(arguments)
            forwardedArguments["name"] = name
            forwarded = SupervisorRequest(operation: "session.terminal", arguments: forwardedArguments)
        case "agent.ports":
            guard let port = arguments["port"].flatMap({ UInt16($0) }), port > 0 else {
                return .failure(125, "warden: \(stripTerminalControls(String((arguments["port"] ?? "").prefix(16)))) is not a port (1-65535)")
            }
            action = "agent port \(id) \(port)"
            forwarded = SupervisorRequest(operation: "session.connect", arguments: ["port": String(port)])
        default:
            return .failure(125, "warden: unknown operation \(request.operation)")
        }
        let decision = context.evaluator.mayAct(context.caller, .attach, agent: AgentRef(id: record.id, owner: record.owner))
        if let refusal = context.record(action, decision) { return refusal }
        guard record.state == .running else {
            return .failure(1, "warden: agent \(record.id) is \(record.state.rawValue), not running: there is no sandbox to reach")
        }
        var answer = SupervisorClient.send(forwarded, socketPath: layout.controlSocket(record.id))
        if answer.status == 69 { return .failure(1, "warden: agent \(record.id)'s sandbox is not reachable (it is starting or has just ended)") }
        guard answer.status == 0 else { return answer }
        switch forwarded.operation {
        case "session.describe":
            guard let description = SupervisorFraming.decode(AgentSession.Description.self, Array(answer.output.utf8)) else {
                return .failure(70, "warden: the agent's owner sent a description this supervisor cannot read")
            }
            answer.output = request.operation == "agent.terminals" ? Self.terminalTable(description) : Self.portTable(description)
        case "session.shell", "session.terminal":
            // Who took over is part of the agent's story.
            let what = forwarded.operation == "session.shell" ? "a shell" : "terminal \(arguments["name"] ?? "")"
            try? store.note(record.id, "\(context.caller.name) attached to \(what)", at: wallMilliseconds())
        default:
            break
        }
        return answer
    }

    /// The caller's terminal type and size, passed on as given (the owner checks the type).
    static func terminalArguments(_ arguments: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for key in ["term", "rows", "columns"] { result[key] = arguments[key] }
        return result
    }

    static func terminalTable(_ description: AgentSession.Description) -> String {
        guard !description.terminals.isEmpty else { return "the agent's environment declares no terminals\n" }
        return TextTable.render([["NAME", "DESCRIPTION"]] + description.terminals.map { [$0.name, $0.description ?? ""] })
    }

    static func portTable(_ description: AgentSession.Description) -> String {
        guard !description.ports.isEmpty else { return "the agent's environment declares no ports\n" }
        return TextTable.render([["PORT", "NAME"]] + description.ports.map { [String($0.port), $0.name ?? ""] })
    }
}
