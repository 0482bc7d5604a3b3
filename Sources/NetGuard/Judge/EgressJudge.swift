import Policy

/// How the guard learned a connection's name.
enum NameSource: String, Sendable {
    case sni, host, dnsCache = "dns-cache", query, none = ""
}

/// The guard's verdict on one connection or request: the policy decision plus the guard's own
/// rules (bound to the real destination, R20; TLS and framing rules, R22).
struct Verdict: Sendable {
    var allowed: Bool
    var rule: String
    var reason: String
    /// Name used for the decision (may come from the DNS cache).
    var name: String?
    var nameSource: NameSource
    var flags: [String] = []
    /// Why the org policy decided, when it did (detection reads it: rules 1, 6, 7).
    var policyReason: EgressDecision.Reason?
    var portNamed = false
    var hostNamed = false

    static func deny(_ rule: String, _ reason: String, name: String? = nil, source: NameSource = .none) -> Verdict {
        Verdict(allowed: false, rule: rule, reason: reason, name: name, nameSource: source)
    }
}

/// What the guard knows about one connection attempt when it decides.
struct ConnectionFacts: Sendable {
    var destination: SocketAddress
    /// SNI or Host, as sent (lower-cased); nil when none.
    var claimedName: String?
    var nameSource: NameSource
    var method: String?
    var path: String?
    /// A TLS connection.
    var encrypted = false
    /// A TLS connection the guard terminates: its requests are judged one by one, so method
    /// rules can wait for them.
    var inspected = false
    var encryptedClientHello = false
}

/// Judges egress for one sandbox: the host's own addresses first (always refused), then the
/// binding of the claimed name to the destination, then the org policy.
struct EgressJudge {
    let policy: EgressPolicy
    let hostAddresses: Set<IPAddress>
    var cache = DNSAnswerCache()

    init(policy: EgressPolicy, hostAddresses: Set<IPAddress>) {
        self.policy = policy
        self.hostAddresses = Set(hostAddresses.map(\.canonical))
    }

    var mode: NetworkPolicy.Mode { policy.matcher.mode }

    func judge(_ facts: ConnectionFacts) -> Verdict {
        let address = facts.destination.address
        if hostAddresses.contains(address.canonical) {
            return .deny("address-class.host", "\(address) is an address of this machine, which a sandbox never reaches (R20)",
                         name: facts.claimedName, source: facts.nameSource)
        }
        // Forbidden classes first: no name, Host or SNI can make them reachable (R20).
        let (addressClass, range) = AddressClass.of(address)
        if addressClass == .forbidden {
            return .deny("address-class", "\(address) is in \(range), which is never reachable from a sandbox (R20)", name: facts.claimedName, source: facts.nameSource)
        }
        var name = facts.claimedName
        var source = facts.nameSource
        var flags: [String] = []
        if let claimed = name, IPAddress(claimed) == nil, DomainName.normalize(claimed) == nil {
            return .deny(source == .sni ? "tls.invalid-sni" : "http.invalid-host", "\(source.rawValue) \(claimed.prefix(80)) is not a valid host name", name: nil, source: source)
        }
        if let claimed = name, let literal = IPAddress(claimed) {
            // A literal in SNI or Host must be the address dialled.
            guard literal.canonical == address.canonical else {
                return .deny("dns-binding", "\(source.rawValue) names \(claimed) but the connection goes to \(address) (R20)", name: claimed, source: source)
            }
            name = nil
        }
        if let claimed = name {
            if mode != .open && !cache.resolved(claimed, to: address) {
                return .deny("dns-binding", "\(address) did not come from this sandbox's DNS answers for \(claimed) (R20)", name: claimed, source: source)
            }
        } else {
            let names = cache.names(for: address)
            if let known = names.first(where: { policy.evaluate(request(host: $0, facts)).allowed }) ?? names.first {
                name = known
                source = .dnsCache
            } else {
                flags.append("raw-ip")
            }
        }
        if facts.encrypted && name == nil && facts.nameSource == .sni && mode == .allowlist {
            return .deny("tls.no-sni", "a TLS ClientHello without a server name is refused in allowlist mode (R22)", source: source)
        }
        if facts.encryptedClientHello && mode == .allowlist {
            return .deny("tls.ech", "an encrypted ClientHello hides the server name; refused in allowlist mode (R22)", name: name, source: source)
        }
        let decision = policy.evaluate(request(host: name, facts))
        var verdict = Verdict(allowed: decision.allowed, rule: decision.rule, reason: decision.sentence, name: name, nameSource: source, flags: flags,
                              policyReason: decision.reason, portNamed: decision.portNamed, hostNamed: decision.hostNamed)
        if decision.allowed && decision.methodsPending && facts.encrypted && !facts.inspected {
            verdict.allowed = false
            verdict.reason = "rule \(decision.rule) allows only some HTTP methods, and the requests inside this TLS connection are not inspected (inspection off or host excluded), so none can be judged"
        }
        return verdict
    }

    private func request(host: String?, _ facts: ConnectionFacts) -> EgressRequest {
        EgressRequest(host: host, address: facts.destination.address, port: facts.destination.port, method: facts.method, path: facts.path)
            ?? EgressRequest(host: nil, address: facts.destination.address, port: facts.destination.port, method: facts.method, path: facts.path)!
    }

    /// The decision for a DNS name, before anything is forwarded: a name is allowed when some
    /// rule would allow it on some port. In allowlist mode a name no domain rule allows is
    /// refused and never leaves the machine (a query is itself a way out).
    func judgeName(_ name: String) -> Verdict {
        guard let request = EgressRequest(host: name, port: 0) else {
            return .deny("dns.invalid-name", "\(name) is not a valid host name", name: name, source: .query)
        }
        let decision = policy.evaluateName(request)
        return Verdict(allowed: decision.allowed, rule: decision.rule, reason: decision.sentence, name: name, nameSource: .query,
                       policyReason: decision.reason)
    }

    /// The decision on one answer address of an allowed name (DNS rebinding): forbidden classes
    /// never, internal networks only by an explicit rule covering the address.
    func judgeAnswer(name: String, address: IPAddress) -> Verdict {
        if hostAddresses.contains(address.canonical) {
            return .deny("dns.rebinding", "\(name) resolved to \(address), an address of this machine (R20)", name: name, source: .query)
        }
        let (kind, range) = AddressClass.of(address)
        switch kind {
        case .forbidden:
            return .deny("dns.rebinding", "\(name) resolved to \(address) in \(range), which a sandbox never reaches (DNS rebinding)", name: name, source: .query)
        case .internalNetwork:
            guard policy.allowsNetwork(address) else {
                return .deny("dns.rebinding", "\(name) resolved to \(address) in the internal range \(range), and no cidr rule allows it (DNS rebinding)", name: name, source: .query)
            }
            return Verdict(allowed: true, rule: "address-class", reason: "", name: name, nameSource: .query)
        case .publicAddress:
            return Verdict(allowed: true, rule: "address-class", reason: "", name: name, nameSource: .query)
        }
    }
}
