import Policy
import Store
import WardenSystem

/// What every supervisor request starts from: the policy in force and who the caller is in
/// it (by the socket's uid), with the service that records decisions as that caller.
struct CallerPolicy {
    let service: PolicyService
    let policy: OrgPolicy
    /// The version `policy` is (0: the built-in one).
    let version: Int
    let caller: Principal

    var evaluator: PolicyEvaluator { PolicyEvaluator(policy) }

    /// The caller and the policy; throws the response to send back when the policy cannot be
    /// read.
    static func resolve(home: String, uid: UInt32) throws(SupervisorResponse.Failure) -> CallerPolicy {
        do throws(StoreError) {
            let service = try PolicyService(home: home, callerUID: uid)
            let (version, policy) = try service.current()
            return CallerPolicy(service: service, policy: policy, version: version, caller: service.principal(in: policy))
        } catch {
            throw SupervisorResponse.Failure(.failure(122, "warden: the policy cannot be read: \(error.message)"))
        }
    }

    /// The same, for requests only Warden users may make.
    static func resolveUser(home: String, uid: UInt32) throws(SupervisorResponse.Failure) -> CallerPolicy {
        let context = try resolve(home: home, uid: uid)
        if let refusal = context.strangerRefusal { throw SupervisorResponse.Failure(refusal) }
        return context
    }

    /// The refusal for a caller who is not a Warden user (nil for users).
    var strangerRefusal: SupervisorResponse? {
        caller.role == nil ? .failure(123, "warden: refused: \(caller.name) is not a Warden user [users]") : nil
    }

    /// Records the decision; the refusal to send back when it is not allowed or cannot be
    /// recorded (nothing is done without its record).
    func record(_ action: String, _ decision: Decision) -> SupervisorResponse? {
        do { try service.record(action, decision, at: wallMilliseconds(), as: caller) } catch {
            return .failure(122, "warden: the decision cannot be recorded, so nothing is done: \(error.message)")
        }
        return decision.allowed ? nil : .failure(123, "warden: refused: \(decision.reason) [\(decision.rule)]")
    }

    /// A Warden user's request about one agent: the caller, the store and the agent it names.
    static func agentRequest(home: String, uid: UInt32, id: String) throws(SupervisorResponse.Failure)
        -> (context: CallerPolicy, store: AgentStore, record: AgentRecord) {
        let context = try resolveUser(home: home, uid: uid)
        let (store, record) = try agent(id, home: home)
        return (context, store, record)
    }

    /// The agent a request names, from the store.
    static func agent(_ id: String, home: String) throws(SupervisorResponse.Failure) -> (store: AgentStore, record: AgentRecord) {
        guard AgentLayout.isValidID(id) else { throw SupervisorResponse.Failure(noSuchAgent(id)) }
        let found: (AgentStore, AgentRecord)?
        do throws(StoreError) {
            found = try AgentStore.existing(home: home).flatMap { store throws(StoreError) in try store.get(id).map { (store, $0) } }
        } catch {
            throw SupervisorResponse.Failure(.failure(122, "warden: the agent store cannot be read: \(error.message)"))
        }
        guard let found else { throw SupervisorResponse.Failure(noSuchAgent(id)) }
        return found
    }

    static func noSuchAgent(_ id: String) -> SupervisorResponse {
        .failure(1, "warden: no agent \(stripTerminalControls(String(id.prefix(64)))) (see `warden agent list --all`)")
    }
}

extension SupervisorResponse {
    /// A response carried as an error, for code that returns early with it.
    struct Failure: Error {
        let response: SupervisorResponse
        init(_ response: SupervisorResponse) { self.response = response }
    }
}
