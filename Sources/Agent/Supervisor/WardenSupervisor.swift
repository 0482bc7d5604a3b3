/// The supervisor's requests, by operation: each service answers its own.
public struct WardenSupervisor: SupervisorHandler {
    public let secrets: SecretsService
    public let agents: AgentQueryService
    public let starts: AgentStartService
    public let controls: AgentControlService
    public let sessions: AgentSessionService
    public let audit: AuditReadService

    public init(secrets: SecretsService, agents: AgentQueryService, starts: AgentStartService, controls: AgentControlService,
                sessions: AgentSessionService, audit: AuditReadService) {
        self.audit = audit
        self.secrets = secrets
        self.agents = agents
        self.starts = starts
        self.controls = controls
        self.sessions = sessions
    }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        switch request.operation {
        case "ping": return SupervisorResponse(output: "warden supervisor: ok (you are uid \(callerUID))\n")
        case let operation where operation.hasPrefix("secrets."): return secrets.handle(request, callerUID: callerUID)
        case "agent.list", "agent.show": return agents.handle(request, callerUID: callerUID)
        case "agent.start": return starts.handle(request, callerUID: callerUID)
        case "agent.follow-up", "agent.stop", "agent.logs": return controls.handle(request, callerUID: callerUID)
        case "agent.attach", "agent.terminals", "agent.ports": return sessions.handle(request, callerUID: callerUID)
        case "audit.records", "audit.summary": return audit.handle(request, callerUID: callerUID)
        default: return .failure(125, "warden: unknown operation \(request.operation)")
        }
    }
}
