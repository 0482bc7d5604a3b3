/// Everything that judges one agent's egress: the org network policy it started with, the
/// repository's own `egressAllowlist`, and, for a running agent, deny rules added since it
/// started (tightening applies at once; loosening never reaches a running agent).
public struct EgressPolicy: Sendable {
    public let matcher: EgressMatcher
    /// The repository's `egressAllowlist`; nil when it has none.
    public let repositoryAllowlist: [DomainPattern]?
    public let repositoryMayWiden: Bool
    /// Deny rules of the policy in force now, for an agent that started under an older one.
    public let liveDenies: EgressMatcher?
    /// TLS inspection as the agent started with it (a running agent keeps its snapshot's).
    public let tls: TLSInspectionPolicy
    private let tlsExclusions: [NetworkRule.Destination]

    public init(network: NetworkPolicy, repositoryAllowlist: [DomainPattern]? = nil, current: NetworkPolicy? = nil) {
        matcher = EgressMatcher(network)
        self.repositoryAllowlist = repositoryAllowlist
        repositoryMayWiden = network.repositoryMayWiden
        tls = network.tls
        tlsExclusions = network.tls.exclusions
        liveDenies = current.map { current in
            var denies = current
            denies.rules = current.rules.filter { $0.action == .deny }
            denies.mode = current.mode == .none ? .none : .allowlist
            return EgressMatcher(denies)
        }
    }

    /// The policy of an agent that started with `snapshot` while `current` is in force.
    public static func forRunningAgent(_ snapshot: AgentPolicySnapshot, current: OrgPolicy,
                                       repositoryAllowlist: [DomainPattern]? = nil) -> EgressPolicy {
        EgressPolicy(network: snapshot.policy.network, repositoryAllowlist: repositoryAllowlist, current: current.network)
    }

    public func evaluate(_ request: EgressRequest) -> EgressDecision {
        if let liveDenies, let denial = liveDenies.denial(request) { return denial }
        return applyRepository(matcher.evaluate(request), request)
    }

    /// The decision on a DNS name (no port or address yet): see `EgressMatcher.evaluateName`.
    public func evaluateName(_ request: EgressRequest) -> EgressDecision {
        if let liveDenies {
            let denial = liveDenies.evaluateName(request)
            if denial.reason == .denyRule || denial.reason == .networkOff { return denial }
        }
        return applyRepository(matcher.evaluateName(request), request)
    }

    /// Whether the guard terminates an allowed TLS connection to `host` at `address`.
    public func tlsTreatment(host: String?, address: IPAddress) -> TLSTreatment {
        tls.treatment(host: host, address: address, exclusions: tlsExclusions)
    }

    /// Whether some allow rule's network contains `address` (internal answers need one).
    public func allowsNetwork(_ address: IPAddress) -> Bool { matcher.allowsNetwork(address) }

    private func applyRepository(_ decision: EgressDecision, _ request: EgressRequest) -> EgressDecision {
        guard let repositoryAllowlist else { return decision }
        let listed = request.host.map { host in repositoryAllowlist.contains { $0.matches(host) } } ?? false
        // Widening takes only entries that would pass as org allow rules (never `*` or `*.com`).
        let listedNarrowly = request.host.map { host in
            repositoryAllowlist.contains { pattern in
                pattern.matches(host) && (try? DomainPattern.parse(pattern.description, forAllow: true)) != nil
            }
        } ?? false
        if decision.allowed {
            if listed { return decision }
            return EgressDecision(allowed: false, rule: "repository.egressAllowlist", reason: .repositoryNarrowed, request: request)
        }
        // Widening, where the org allows it, only fills the gap "no allow rule matched":
        // deny rules, address classes and method limits still hold.
        if listedNarrowly, repositoryMayWiden, decision.reason == .notAllowed {
            return EgressDecision(allowed: true, rule: "repository.egressAllowlist", reason: .allowRule, request: request)
        }
        return decision
    }
}
