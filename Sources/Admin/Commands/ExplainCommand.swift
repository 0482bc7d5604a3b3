import ArgumentParser
import Policy
import WardenSystem

/// `warden-admin explain`: asks the policy in force one question and prints the decision,
/// the rule that made it and why.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain", abstract: "Explain a decision: allowed or not, which rule, and why.",
        discussion: """
            ACTIONS
              start-agent                       may USER start agents?
              follow-up, see, read-content,     may USER do this to agent --agent ID owned by --owner NAME?
                attach, stop
              view-audit --owner NAME           may USER read audit records of NAME's agents?
              see-summary [--channel app|external]
              change --key KEY [--value V]      may USER change a setting?
              weaken --option OPT [--layer L]   may USER use a weakening option (allow-degraded, seccomp, rw, net-open, allow, broad-workspace)?
              privacy                           the privacy mode a new agent of USER starts with
              expire --kind K --age DURATION    is a record of this kind (agent-data, private-content, audit) this old past retention?
              egress --host H|--ip A --port P [--method M] [--path P]
              detect --host H|--ip A [--port P] [--method M] [--path P] [--body-file F]
                                                which exfiltration rules would fire on this request or
                                                DNS name, with each rule's action in the policy's mode
            """)
    @OptionGroup var options: AdminOptions
    @Option(name: .long, help: "A Warden user name, root, or uid:N.") var user: String
    @Option(name: .long, help: "The action (see below).") var action: String
    @Option(name: .long, help: "Agent id.") var agent: String = "agent"
    @Option(name: .long, help: "The agent's (or record's) owner.") var owner: String?
    @Option(name: .long, help: "app or external.") var channel: String = "app"
    @Option(name: .long, help: "Setting key (change).") var key: String?
    @Option(name: .long, help: "New value (change).") var value: String?
    @Option(name: .customLong("option"), help: "Weakening option (weaken).") var weakening: String?
    @Option(name: .long, help: "Layer (weaken allow-degraded).") var layer: String?
    @Option(name: .long, help: "Record kind (expire).") var kind: String?
    @Option(name: .long, help: "Record age (expire), e.g. 3d.") var age: String?
    @Option(name: .long, help: "Destination host name (egress).") var host: String?
    @Option(name: .long, help: "Destination address (egress).") var ip: String?
    @Option(name: .long, help: "Destination port (egress).") var port: UInt16?
    @Option(name: .long, help: "HTTP method (egress).") var method: String?
    @Option(name: .long, help: "HTTP path (egress).") var path: String?
    @Option(name: .long, help: "A file holding a request body (detect).") var bodyFile: String?

    func run() throws {
        let session = try AdminSession(options)
        let (version, policy) = try session.current()
        if action == "detect" {
            try explainDetection(policy, version: version, session: session)
            return
        }
        let principal = try resolve(user, in: policy, session: session)
        let decision = try decide(PolicyEvaluator(policy), principal)
        if options.json {
            struct Output: Encodable { var version: Int; var user: String; var action: String; var allowed: Bool; var rule: String; var reason: String }
            session.emit(Output(version: version, user: principal.description, action: action, allowed: decision.allowed, rule: decision.rule, reason: decision.reason))
        } else {
            print("\(decision.allowed ? "ALLOW" : "DENY")  rule \(decision.rule)  (policy version \(version))")
            print(decision.reason)
        }
    }

    func resolve(_ text: String, in policy: OrgPolicy, session: AdminSession) throws -> Principal {
        if text == "root" { return Principal(uid: 0, kind: .root) }
        if text.hasPrefix("uid:"), let uid = UInt32(text.dropFirst(4)) {
            return Principal.resolve(uid: uid, policy: policy)
        }
        guard let found = policy.user(named: text) else { throw AdminSession.invalid("--user \(text): unknown user (a Warden user name, root, or uid:N)") }
        return Principal(uid: found.uid, kind: .user(found))
    }

    func decide(_ evaluator: PolicyEvaluator, _ principal: Principal) throws -> Decision {
        func need<T>(_ value: T?, _ flag: String) throws -> T {
            guard let value else { throw AdminSession.invalid("explain --action \(action) needs \(flag)") }
            return value
        }
        func agentRef() throws -> AgentRef { AgentRef(id: agent, owner: try need(owner, "--owner NAME")) }
        switch action {
        case "start-agent": return evaluator.mayStartAgent(principal)
        case "follow-up": return evaluator.mayFollowUp(principal, agent: try agentRef())
        case "see", "read-content", "attach", "stop":
            return evaluator.mayAct(principal, AgentAction(rawValue: action) ?? .see, agent: try agentRef())
        case "view-audit": return evaluator.mayViewAudit(principal, recordOwner: try need(owner, "--owner NAME"))
        case "see-summary":
            guard let channel = SummaryChannel(rawValue: channel) else { throw AdminSession.invalid("--channel \(channel): expected app or external") }
            return evaluator.maySeeSummary(principal, channel: channel)
        case "change":
            let key = try need(key, "--key KEY")
            do throws(PolicyError) { _ = try PolicySettings.descriptor(key) } catch { throw AdminSession.invalid(error.message) }
            return evaluator.mayChange(principal, setting: key, newValue: value)
        case "weaken":
            let name = try need(weakening, "--option OPTION")
            guard let option = WeakeningOption(rawValue: name) else {
                throw AdminSession.invalid("--option \(name): expected one of \(WeakeningOption.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var sandboxLayer: SandboxLayer? = nil
            if let layer {
                guard let parsed = SandboxLayer(rawValue: layer) else { throw AdminSession.invalid("--layer \(layer): expected seccomp, landlock, cgroups or identity") }
                sandboxLayer = parsed
            }
            return evaluator.mayWeaken(principal, option: option, layer: sandboxLayer)
        case "privacy":
            let decision = evaluator.privacyFor(newAgentOf: principal)
            return Decision(allowed: decision.allowed, rule: decision.rule, reason: "privacy mode \(decision.allowed ? "on" : "off"): \(decision.reason)")
        case "expire":
            guard let kind = RetainedRecord.Kind(rawValue: try need(kind, "--kind KIND")) else {
                throw AdminSession.invalid("--kind: expected agent-data, private-content or audit")
            }
            let duration: PolicyDuration
            let ageText = try need(age, "--age DURATION")
            do throws(PolicyError) { duration = try PolicyDuration.parse(ageText) } catch { throw AdminSession.invalid("--age: \(error.message)") }
            return evaluator.isExpired(RetainedRecord(kind: kind, since: 0), now: duration.seconds)
        case "egress":
            let address = try ip.map { text throws -> IPAddress in
                guard let address = IPAddress(text) else { throw AdminSession.invalid("--ip \(text): not an IPv4 or IPv6 address") }
                return address
            }
            guard let request = EgressRequest(host: host, address: address, port: try need(port, "--port P"), method: method, path: path) else {
                throw AdminSession.invalid("explain egress needs a valid --host name or --ip address")
            }
            return evaluator.egress(request)
        default:
            throw AdminSession.invalid("--action \(action): unknown (see `warden-admin explain --help`)")
        }
    }
}
