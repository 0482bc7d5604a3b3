import Glibc
import Policy
import Sandbox
import Store
import WardenSystem

/// Where `warden run` consults the organisation's policy: its defaults fill the limits the
/// caller did not give, it names the seccomp profile, and every option that weakens the
/// sandbox (R24) is checked against the caller's grants and recorded, allowed or not. A
/// store that exists but cannot be read refuses the run (fail closed); a use that cannot be
/// recorded is refused too.
enum RunPolicyGate {
    /// Applies the policy to `request`; returns an exit status when the run must not start.
    static func apply(to request: inout SandboxRequest, home: String) -> Int32? {
        let service: PolicyService
        let policy: OrgPolicy
        do {
            service = try PolicyService(home: home)
            policy = try service.currentForRun().policy
        } catch {
            printError("warden: cannot read the organisation's policy: \(error.message)")
            return WardenExitCode.setupFailed
        }
        applyDefaults(policy.sandbox, to: &request)
        let uses = weakeningUses(request)
        guard !uses.isEmpty else { return nil }
        let caller = service.principal(in: policy)
        let evaluator = PolicyEvaluator(policy)
        let now = Int64(time(nil))
        var refusal: Decision? = nil
        for use in uses {
            let decision = evaluator.mayWeaken(caller, option: use.option, layer: use.layer)
            do {
                try service.record("run \(use.text)", decision, at: now, as: caller)
            } catch {
                if decision.allowed {
                    printError("warden: \(use.text) must be recorded and cannot be: \(error.message)")
                    return WardenExitCode.setupFailed
                }
                printError("warden: (the refusal below could not be recorded: \(error.message))")
            }
            if !decision.allowed && refusal == nil { refusal = decision }
        }
        if let refusal {
            printError("warden: refused by the organisation's policy: \(refusal.reason) [\(refusal.rule)]")
            return WardenExitCode.refusedByPolicy
        }
        return nil
    }

    static func applyDefaults(_ sandbox: SandboxPolicy, to request: inout SandboxRequest) {
        if !request.explicitLimits.contains(.memory) { request.limits.memoryBytes = sandbox.memory.bytes }
        if !request.explicitLimits.contains(.pids) { request.limits.pids = sandbox.pids }
        if !request.explicitLimits.contains(.cpus) { request.limits.cpus = sandbox.cpus }
        if !request.explicitLimits.contains(.timeout), let timeout = sandbox.timeout { request.limits.timeoutSeconds = Double(timeout.seconds) }
        request.shippedProfileName = sandbox.seccompProfile
    }

    struct Use {
        var option: WeakeningOption
        var layer: SandboxLayer?
        /// How the caller wrote it, for messages and the record.
        var text: String
    }

    /// Every weakening option the request uses, one per layer or bind.
    static func weakeningUses(_ request: SandboxRequest) -> [Use] {
        var uses: [Use] = []
        for layer in request.allowDegraded.sorted() {
            uses.append(Use(option: .allowDegraded, layer: SandboxLayer(rawValue: layer.rawValue), text: "--allow-degraded \(layer.rawValue)"))
        }
        if let profile = request.seccompProfile { uses.append(Use(option: .customSeccomp, text: "--seccomp \(profile)")) }
        for bind in request.readWriteBinds { uses.append(Use(option: .readWriteBind, text: "--rw \(bind.source):\(bind.target)")) }
        if request.allowBroadWorkspace { uses.append(Use(option: .broadWorkspace, text: "--allow-broad-workspace")) }
        return uses
    }
}
