import Policy
import Store

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
}

extension SupervisorResponse {
    /// A response carried as an error, for code that returns early with it.
    struct Failure: Error {
        let response: SupervisorResponse
        init(_ response: SupervisorResponse) { self.response = response }
    }
}
