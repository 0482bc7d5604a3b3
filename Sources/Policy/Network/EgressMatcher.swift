/// The network policy compiled for fast decisions: exact names and wildcard suffixes in hash
/// tables keyed by the name's own bytes (a lookup walks the name's dot positions and allocates
/// nothing), networks in a short list. Built once per policy version; immutable, so any
/// number of threads may share it.
public struct EgressMatcher: Sendable {
    public let mode: NetworkPolicy.Mode
    private let rules: [NetworkRule]
    private let exact: [Substring: Candidates]
    private let wildcard: [Substring: Candidates]
    private let denyEverything: [Int]
    private let networks: [(cidr: CIDR, index: Int)]

    /// Rules for one name or suffix, deny and allow kept apart so deny is checked first.
    struct Candidates: Sendable {
        var deny: [Int] = []
        var allow: [Int] = []
    }

    public init(_ policy: NetworkPolicy) {
        mode = policy.mode
        rules = policy.rules
        var exact: [Substring: Candidates] = [:]
        var wildcard: [Substring: Candidates] = [:]
        var denyEverything: [Int] = []
        var networks: [(CIDR, Int)] = []
        for (index, rule) in policy.rules.enumerated() {
            switch rule.destination {
            case .domain(.exact(let name)):
                exact[Substring(name), default: Candidates()].append(index, rule.action)
            case .domain(.wildcard(let suffix)) where suffix.isEmpty:
                if rule.action == .deny { denyEverything.append(index) }
            case .domain(.wildcard(let suffix)):
                wildcard[Substring(suffix), default: Candidates()].append(index, rule.action)
            case .network(let cidr):
                networks.append((cidr, index))
            }
        }
        self.exact = exact
        self.wildcard = wildcard
        self.denyEverything = denyEverything
        self.networks = networks
    }

    /// Judges one request. Order: network off; forbidden address classes; deny rules (deny
    /// always wins; in open mode they are reported, not enforced); internal addresses need an
    /// explicit network rule; then allow rules (with their ports and methods) or the mode.
    public func evaluate(_ request: EgressRequest) -> EgressDecision {
        func decide(_ allowed: Bool, _ rule: String, _ reason: EgressDecision.Reason) -> EgressDecision {
            EgressDecision(allowed: allowed, rule: rule, reason: reason, request: request)
        }
        if mode == .none { return decide(false, "network.mode", .networkOff) }
        var internalRange: String? = nil
        if let address = request.address {
            let (kind, range) = AddressClass.of(address)
            if kind == .forbidden { return decide(false, "address-class", .forbiddenAddress(range: range)) }
            if kind == .internalNetwork { internalRange = range }
        }
        if let deny = firstDeny(request) {
            if mode == .open { return decide(true, "network.mode", .openMode(wouldDenyBy: rules[deny].id)) }
            return decide(false, rules[deny].id, .denyRule)
        }
        var allowByNetwork: Int? = nil
        if let canonical = request.address?.canonical {
            for entry in networks where rules[entry.index].action == .allow && entry.cidr.contains(canonical)
                && rules[entry.index].allowsPort(request.port) {
                allowByNetwork = entry.index
                break
            }
        }
        if let internalRange, allowByNetwork == nil {
            return decide(false, "address-class", .internalAddress(range: internalRange))
        }
        if mode == .open { return decide(true, "network.mode", .openMode(wouldDenyBy: nil)) }
        // An allow rule for the name (or the address) decides ports and methods.
        var allowed: Int? = nil
        var methodRefused: Int? = nil
        if let host = request.host {
            visit(host) { candidates in
                for index in candidates.allow where rules[index].allowsPort(request.port) {
                    if rules[index].allowsMethod(request.method, path: request.path) {
                        allowed = index
                        return false
                    }
                    if methodRefused == nil { methodRefused = index }
                }
                return true
            }
        }
        if allowed == nil, allowByNetwork != nil, let canonical = request.address?.canonical {
            for entry in networks where rules[entry.index].action == .allow && entry.cidr.contains(canonical)
                && rules[entry.index].allowsPort(request.port) {
                if rules[entry.index].allowsMethod(request.method, path: request.path) {
                    allowed = entry.index
                    break
                }
                if methodRefused == nil { methodRefused = entry.index }
            }
        }
        if let allowed { return decide(true, rules[allowed].id, .allowRule) }
        if let refused = methodRefused { return decide(false, rules[refused].id, .methodNotAllowed) }
        if mode == .monitor { return decide(true, "network.mode", .monitorPublic) }
        return decide(false, "default-deny", .notAllowed)
    }

    /// The decision of this policy's deny rules alone (nil: none matches): what a running
    /// agent gets from rules added after it started.
    public func denial(_ request: EgressRequest) -> EgressDecision? {
        if mode == .none { return EgressDecision(allowed: false, rule: "network.mode", reason: .networkOff, request: request) }
        guard let deny = firstDeny(request) else { return nil }
        return EgressDecision(allowed: false, rule: rules[deny].id, reason: .denyRule, request: request)
    }

    /// The first deny rule matching by name, suffix, "*" or network, with its ports.
    private func firstDeny(_ request: EgressRequest) -> Int? {
        for index in denyEverything where rules[index].allowsPort(request.port) { return index }
        if let host = request.host {
            var found: Int? = nil
            visit(host) { candidates in
                for index in candidates.deny where rules[index].allowsPort(request.port) {
                    found = index
                    return false
                }
                return true
            }
            if let found { return found }
        }
        if let address = request.address?.canonical {
            for entry in networks where rules[entry.index].action == .deny && entry.cidr.contains(address)
                && rules[entry.index].allowsPort(request.port) {
                return entry.index
            }
        }
        return nil
    }

    /// Calls `body` with the exact entry for `host`, then the wildcard entry of every proper
    /// suffix after a dot (most specific first), until `body` returns false.
    private func visit(_ host: String, _ body: (Candidates) -> Bool) {
        let name = Substring(host)
        if let entry = exact[name], !body(entry) { return }
        var index = name.startIndex
        let utf8 = name.utf8
        while let dot = utf8[index...].firstIndex(of: 0x2E) {
            let next = utf8.index(after: dot)
            if let entry = wildcard[name[next...]], !body(entry) { return }
            index = next
        }
    }
}

extension EgressMatcher.Candidates {
    mutating func append(_ index: Int, _ action: NetworkRule.Action) {
        switch action {
        case .allow: allow.append(index)
        case .deny: deny.append(index)
        }
    }
}
