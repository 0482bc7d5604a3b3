/// The network policy compiled for fast decisions. Names and wildcard suffixes sit in hash
/// indexes that one backward pass over the host name probes at every dot (deny rules first,
/// at every level, so deny always wins); networks sit in a short list; each rule's ports and
/// methods are precomputed as plain integers. Built once per policy version; immutable, so
/// any number of threads may share it.
public struct EgressMatcher: Sendable {
    public let mode: NetworkPolicy.Mode
    private let rules: [NetworkRule]
    private let compiled: [CompiledRule]
    private let exact: NameIndex
    private let wildcard: NameIndex
    private let denyEverything: [Int32]
    private let networks: [(cidr: CIDR, index: Int32)]

    /// What the hot path needs of a rule, without touching its strings.
    struct CompiledRule: Sendable {
        let action: NetworkRule.Action
        let portLow: UInt16
        let portHigh: UInt16
        /// More than one port range: checked through the rule itself.
        let morePorts: Bool
        let methods: UInt16
        /// Some POSTs are reads on this rule (git fetch, npm audit): checked through the rule.
        let postReads: Bool

        init(_ rule: NetworkRule) {
            action = rule.action
            portLow = rule.ports.first?.lower ?? 0
            portHigh = rule.ports.first?.upper ?? .max
            morePorts = rule.ports.count > 1
            methods = rule.methods.map { $0.reduce(0) { $0 | MethodMask.bit($1) } } ?? MethodMask.any
            postReads = rule.gitFetch || rule.isReadOnly
        }
    }

    public init(_ policy: NetworkPolicy) {
        mode = policy.mode
        rules = policy.rules
        compiled = policy.rules.map(CompiledRule.init)
        var exact = NameIndex(), wildcard = NameIndex()
        var denyEverything: [Int32] = []
        var networks: [(CIDR, Int32)] = []
        for (position, rule) in policy.rules.enumerated() {
            let index = Int32(position)
            switch rule.destination {
            case .domain(.exact(let name)): exact.add(name, rule: index, action: rule.action)
            case .domain(.wildcard(let suffix)) where suffix.isEmpty:
                if rule.action == .deny { denyEverything.append(index) }
            case .domain(.wildcard(let suffix)): wildcard.add(suffix, rule: index, action: rule.action)
            case .network(let cidr): networks.append((cidr, index))
            }
        }
        self.exact = exact
        self.wildcard = wildcard
        self.denyEverything = denyEverything
        self.networks = networks
    }

    @inline(__always)
    private func portMatches(_ index: Int32, _ port: UInt16) -> Bool {
        let rule = compiled[Int(index)]
        if port >= rule.portLow && port <= rule.portHigh { return true }
        return rule.morePorts && rules[Int(index)].allowsPort(port)
    }

    @inline(__always)
    private func methodMatches(_ index: Int32, _ method: UInt16, _ request: EgressRequest) -> Bool {
        let rule = compiled[Int(index)]
        if rule.methods & method != 0 { return true }
        return rule.postReads && rules[Int(index)].allowsMethod(request.method, path: request.path)
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
        let method = request.method.map(MethodMask.bit) ?? MethodMask.any
        var denied: Int32? = nil
        var allowed: Int32? = nil
        var methodRefused: Int32? = nil
        for index in denyEverything where portMatches(index, request.port) {
            denied = index
            break
        }
        if denied == nil, let host = request.host {
            (denied, allowed, methodRefused) = matchName(host, request, method)
        }
        let allowedByName = allowed != nil
        let canonical = request.address?.canonical
        let raw = request.address
        if denied == nil, let canonical {
            for entry in networks where compiled[Int(entry.index)].action == .deny && (entry.cidr.contains(canonical) || raw.map(entry.cidr.contains) == true)
                && portMatches(entry.index, request.port) {
                denied = entry.index
                break
            }
        }
        if let denied {
            let id = rules[Int(denied)].id
            return mode == .open ? decide(true, "network.mode", .openMode(wouldDenyBy: id)) : decide(false, id, .denyRule)
        }
        var networkAllowed = false
        if let canonical {
            for entry in networks where compiled[Int(entry.index)].action == .allow && entry.cidr.contains(canonical) && portMatches(entry.index, request.port) {
                networkAllowed = true
                guard allowed == nil else { break }
                if methodMatches(entry.index, method, request) {
                    allowed = entry.index
                    break
                }
                if methodRefused == nil { methodRefused = entry.index }
            }
        }
        if let internalRange, !networkAllowed {
            return decide(false, "address-class", .internalAddress(range: internalRange))
        }
        if mode == .open { return decide(true, "network.mode", .openMode(wouldDenyBy: nil)) }
        if let allowed {
            var decision = decide(true, rules[Int(allowed)].id, .allowRule)
            decision.methodsPending = request.method == nil && compiled[Int(allowed)].methods != MethodMask.any
            decision.portNamed = compiled[Int(allowed)].portLow != 0
            decision.hostNamed = allowedByName
            return decision
        }
        if let refused = methodRefused { return decide(false, rules[Int(refused)].id, .methodNotAllowed) }
        if mode == .monitor { return decide(true, "network.mode", .monitorPublic) }
        return decide(false, "default-deny", .notAllowed)
    }

    /// One pass over the name, right to left, probing the wildcard index at every dot and the
    /// exact index at the start: a deny rule (with its port) at any level ends it; otherwise
    /// the most specific allow rule whose port and method match wins, else the most specific
    /// one whose method did not.
    @inline(__always)
    private func matchName(_ host: String, _ request: EgressRequest, _ method: UInt16) -> (deny: Int32?, allow: Int32?, methodRefused: Int32?) {
        var host = host
        return host.withUTF8 { bytes -> (Int32?, Int32?, Int32?) in
            var allowed: Int32? = nil
            var refused: Int32? = nil
            func visit(_ entry: NameIndex.Entry) -> Int32? {
                for index in entry.deny where portMatches(index, request.port) { return index }
                var levelAllowed: Int32? = nil, levelRefused: Int32? = nil
                for index in entry.allow where portMatches(index, request.port) {
                    if methodMatches(index, method, request) {
                        levelAllowed = index
                        break
                    }
                    if levelRefused == nil { levelRefused = index }
                }
                if let levelAllowed { allowed = levelAllowed }
                if let levelRefused { refused = levelRefused }
                return nil
            }
            var hash = NameIndex.seed
            var position = bytes.count
            var labels = 1
            while position > 0 {
                position -= 1
                let byte = bytes[position]
                if byte == 0x2E {
                    if wildcard.mayHold(labels: labels), let entry = wildcard.lookup(hash, bytes, from: position + 1),
                       let deny = visit(wildcard.entries[Int(entry)]) {
                        return (deny, nil, nil)
                    }
                    labels += 1
                }
                hash = NameIndex.step(hash, byte)
            }
            if !exact.isEmpty, let entry = exact.lookup(hash, bytes, from: 0), let deny = visit(exact.entries[Int(entry)]) {
                return (deny, nil, nil)
            }
            return (nil, allowed, allowed == nil ? refused : nil)
        }
    }

    /// The decision on a name alone, before any port or address is known (a DNS query): deny
    /// rules that cover every port refuse it; any allow rule for the name, on any port, admits
    /// it. Linear in the rules: queries are rate-limited and far fewer than connections.
    public func evaluateName(_ request: EgressRequest) -> EgressDecision {
        func decide(_ allowed: Bool, _ rule: String, _ reason: EgressDecision.Reason) -> EgressDecision {
            EgressDecision(allowed: allowed, rule: rule, reason: reason, request: request)
        }
        if mode == .none { return decide(false, "network.mode", .networkOff) }
        guard let host = request.host else { return evaluate(request) }
        var allowRule: Int? = nil
        for (index, rule) in rules.enumerated() {
            guard case .domain(let pattern) = rule.destination, pattern.matches(host) else { continue }
            if rule.action == .deny && rule.ports.isEmpty {
                return mode == .open ? decide(true, "network.mode", .openMode(wouldDenyBy: rule.id)) : decide(false, rule.id, .denyRule)
            }
            if rule.action == .allow && allowRule == nil { allowRule = index }
        }
        if mode == .open { return decide(true, "network.mode", .openMode(wouldDenyBy: nil)) }
        if let allowRule { return decide(true, rules[allowRule].id, .allowRule) }
        if mode == .monitor { return decide(true, "network.mode", .monitorPublic) }
        return decide(false, "default-deny", .notAllowed)
    }

    /// Whether an allow rule's network (any port) contains `address`: what lets a name resolve
    /// to an internal address.
    public func allowsNetwork(_ address: IPAddress) -> Bool {
        let canonical = address.canonical
        return networks.contains { compiled[Int($0.index)].action == .allow && $0.cidr.contains(canonical) }
    }

    /// The decision of this policy's deny rules alone (nil: none matches): what a running
    /// agent gets from rules added after it started.
    public func denial(_ request: EgressRequest) -> EgressDecision? {
        if mode == .none { return EgressDecision(allowed: false, rule: "network.mode", reason: .networkOff, request: request) }
        let decision = EgressMatcher(mode: .allowlist, from: self).evaluate(request)
        guard decision.reason == .denyRule else { return nil }
        return decision
    }

    private init(mode: NetworkPolicy.Mode, from other: EgressMatcher) {
        self.mode = mode
        rules = other.rules
        compiled = other.compiled
        exact = other.exact
        wildcard = other.wildcard
        denyEverything = other.denyEverything
        networks = other.networks
    }
}

/// HTTP methods as bits, so a rule's method list is one AND.
enum MethodMask {
    static let any: UInt16 = 0xFFFF
    static let names = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "TRACE"]

    @inline(__always)
    static func bit(_ method: String) -> UInt16 {
        switch method {
        case "GET": return 1
        case "HEAD": return 2
        case "OPTIONS": return 4
        case "POST": return 8
        case "PUT": return 16
        case "PATCH": return 32
        case "DELETE": return 64
        case "CONNECT": return 128
        case "TRACE": return 256
        default: return 512
        }
    }
}
