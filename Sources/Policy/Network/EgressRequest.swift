/// One egress attempt as the guard sees it: the name the sandbox asked for (from its DNS
/// query, SNI or Host header) and/or the address it dials, the port, and for HTTP the method
/// and path.
public struct EgressRequest: Sendable, Equatable {
    /// Normalized host name (nil: a bare address).
    public var host: String?
    public var address: IPAddress?
    public var port: UInt16
    public var method: String?
    public var path: String?

    /// nil when `host` is not a valid host name.
    public init?(host: String?, address: IPAddress? = nil, port: UInt16, method: String? = nil, path: String? = nil) {
        if let host {
            if let literal = IPAddress(host) {
                self.host = nil
                self.address = address ?? literal
            } else {
                guard let name = DomainName.normalize(host) else { return nil }
                self.host = name
                self.address = address
            }
        } else {
            guard address != nil else { return nil }
            self.host = nil
            self.address = address
        }
        self.port = port
        self.method = method?.uppercased()
        self.path = path
    }

    var destinationText: String {
        switch (host, address) {
        case let (host?, address?): return "\(host) (\(address)) port \(port)"
        case let (host?, nil): return "\(host) port \(port)"
        case let (nil, address?): return "\(address) port \(port)"
        default: return "port \(port)"
        }
    }
}

/// The answer to one egress request: allowed or not, the rule that decided, and why.
public struct EgressDecision: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case networkOff
        case forbiddenAddress(range: String)
        case internalAddress(range: String)
        case denyRule
        case methodNotAllowed
        case allowRule
        case monitorPublic
        case openMode(wouldDenyBy: String?)
        case notAllowed
        case repositoryNarrowed
    }

    public var allowed: Bool
    /// The rule that decided: a rule id, or a built-in rule name (`network.mode`, `address-class`,
    /// `default-deny`, `repository.egressAllowlist`).
    public var rule: String
    public var reason: Reason
    /// Kept so the sentence can be built on demand: the hot path builds no strings.
    public var request: EgressRequest
    /// Allowed by a rule that limits HTTP methods before any method was seen (a TLS
    /// connection at ClientHello time): the guard must inspect each request and judge its
    /// method, or refuse. Never a licence to pass an unseen method.
    public var methodsPending = false
    /// Allowed by a rule that names its ports (so the port is expected, detection rule 6).
    public var portNamed = false
    /// Allowed by a domain rule naming this host (not only by a network rule covering its
    /// address): the host itself is an expected destination, writes included (rule 7).
    public var hostNamed = false

    public init(allowed: Bool, rule: String, reason: Reason, request: EgressRequest) {
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
        self.request = request
    }

    public var decision: Decision { Decision(allowed: allowed, rule: rule, reason: sentence) }

    /// A sentence a human can read.
    public var sentence: String {
        let destination = request.destinationText
        let method = request.method
        switch reason {
        case .networkOff: return "network mode is none: no egress at all (\(destination))"
        case .forbiddenAddress(let range): return "\(destination) is in \(range), which is never reachable from a sandbox (R20)"
        case .internalAddress(let range): return "\(destination) is in the internal range \(range); only an explicit admin cidr rule allows internal networks"
        case .denyRule: return "deny rule \(rule) matches \(destination); deny always wins"
        case .methodNotAllowed: return "rule \(rule) allows \(destination) but not method \(method ?? "?")"
        case .allowRule:
            return "rule \(rule) allows \(destination)" + (methodsPending ? " (only some methods: each request's method must be judged)" : "")
        case .monitorPublic: return "network mode is monitor: \(destination) is public and no rule denies it"
        case .openMode(let would):
            return would.map { "network mode is open: allowed, though rule \($0) would deny \(destination)" }
                ?? "network mode is open: \(destination) allowed and recorded"
        case .notAllowed: return "no allow rule matches \(destination) (network mode allowlist)"
        case .repositoryNarrowed: return "the repository's egressAllowlist does not include \(destination)"
        }
    }
}
