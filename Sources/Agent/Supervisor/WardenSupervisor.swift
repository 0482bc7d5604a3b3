/// The supervisor's requests, by operation: each service answers its own.
public struct WardenSupervisor: SupervisorHandler {
    public let secrets: SecretsService

    public init(secrets: SecretsService) {
        self.secrets = secrets
    }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        switch request.operation {
        case "ping": return SupervisorResponse(output: "warden supervisor: ok (you are uid \(callerUID))\n")
        case let operation where operation.hasPrefix("secrets."): return secrets.handle(request, callerUID: callerUID)
        default: return .failure(125, "warden: unknown operation \(request.operation)")
        }
    }
}
