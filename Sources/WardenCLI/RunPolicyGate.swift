import Agent
import Glibc
import NetGuard
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
    enum Outcome {
        case refused(Int32)
        /// Go on; with the guard's plan when the network is guarded.
        case proceed(GuardPlan?)
    }

    /// Applies the policy to `request`; `.refused` carries the exit status when the run must
    /// not start.
    static func apply(to request: inout SandboxRequest, network: NetworkRequest, home: String) -> Outcome {
        let service: PolicyService
        let policy: OrgPolicy
        do {
            service = try PolicyService(home: home)
            policy = try service.currentForRun(network: network.mode != NetworkMode.none).policy
        } catch {
            printError("warden: cannot read the organisation's policy: \(error.message)")
            return .refused(WardenExitCode.setupFailed)
        }
        applyDefaults(policy.sandbox, to: &request)
        let plan: GuardPlan?
        do {
            plan = try guardPlan(policy.network, network, request: &request, home: home)
        } catch {
            printError("warden: \(error.message)")
            return .refused(WardenExitCode.invalidInput)
        }
        let uses = weakeningUses(request) + networkUses(policy.network, network, mode: request.network)
        guard !uses.isEmpty else { return .proceed(plan) }
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
                    return .refused(WardenExitCode.setupFailed)
                }
                printError("warden: (the refusal below could not be recorded: \(error.message))")
            }
            if !decision.allowed && refusal == nil { refusal = decision }
        }
        if let refusal {
            printError("warden: refused by the organisation's policy: \(refusal.reason) [\(refusal.rule)]")
            return .refused(WardenExitCode.refusedByPolicy)
        }
        return .proceed(plan)
    }

    /// The mode (the caller's, else the organisation's) and, for a guarded mode, what the
    /// guard judges by: the org rules with this run's --deny rules and --allow rules added.
    static func guardPlan(_ org: NetworkPolicy, _ network: NetworkRequest, request: inout SandboxRequest, home: String) throws(GuardError) -> GuardPlan? {
        let mode = network.mode ?? NetworkMode(rawValue: org.mode.rawValue) ?? .none
        request.network = mode
        guard let plan = try GuardPlan.make(org: org, mode: mode, deny: network.deny, allow: network.allow, upstream: network.dnsUpstream,
                                            owner: getuid(), home: home) else { return nil }
        // Offered first so that --env can still change them.
        try plan.prepare(&request)
        return plan
    }

    /// Network options that weaken the sandbox (R24): a mode looser than the organisation's,
    /// and each --allow rule.
    static func networkUses(_ org: NetworkPolicy, _ network: NetworkRequest, mode: NetworkMode) -> [Use] {
        var uses: [Use] = []
        let order: [NetworkPolicy.Mode] = [.none, .allowlist, .monitor, .open]
        if let chosen = network.mode, let policyMode = NetworkPolicy.Mode(rawValue: chosen.rawValue),
           let chosenRank = order.firstIndex(of: policyMode), let orgRank = order.firstIndex(of: org.mode), chosenRank > orgRank {
            uses.append(Use(option: .openNetwork, text: "--net \(chosen.rawValue)"))
        }
        for rule in network.allow { uses.append(Use(option: .allowDestination, text: "--allow \(rule.summary)")) }
        return uses
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
