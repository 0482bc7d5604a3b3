import Testing
@testable import Policy

/// The indexed matcher against a plain reference: for random rule sets and random requests,
/// both must decide the same (seeded, so a failure reproduces).
@Suite("Egress matcher properties")
struct MatcherPropertyTests {
    /// SplitMix64: small, fast, reproducible.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
        mutating func chance(_ percent: UInt64) -> Bool { next() % 100 < percent }
    }

    static let labels = ["a", "b", "ex", "example", "evil", "com", "net", "x-y", "pypi", "org"]

    static func host(_ random: inout Random) -> String {
        (0..<(1 + Int(random.next() % 4))).map { _ in random.pick(labels) }.joined(separator: ".")
    }

    /// The reference: the documented semantics, written as directly as possible.
    static func reference(_ network: NetworkPolicy, _ request: EgressRequest) -> Bool {
        if network.mode == .none { return false }
        if let address = request.address, AddressClass.of(address).class == .forbidden { return false }
        func matches(_ rule: NetworkRule) -> Bool {
            guard rule.allowsPort(request.port) else { return false }
            switch rule.destination {
            case .domain(let pattern): return request.host.map(pattern.matches) ?? false
            case .network(let cidr): return request.address.map { cidr.contains($0.canonical) } ?? false
            }
        }
        let denied = network.rules.contains { $0.action == .deny && matches($0) }
        if denied { return network.mode == .open }
        let networkAllow = network.rules.contains { rule in
            if case .network = rule.destination { return rule.action == .allow && matches(rule) }
            return false
        }
        if let address = request.address, AddressClass.of(address).class == .internalNetwork, !networkAllow { return false }
        if network.mode == .open { return true }
        let allowing = network.rules.filter { $0.action == .allow && matches($0) }
        if allowing.contains(where: { $0.allowsMethod(request.method, path: request.path) }) { return true }
        if !allowing.isEmpty { return false }
        return network.mode == .monitor
    }

    @Test("indexed matcher == reference on 3,000 random policies and requests", arguments: [1, 2, 3])
    func agreesWithReference(_ seed: UInt64) throws {
        var random = Random(state: seed)
        for _ in 0..<1_000 {
            var rules: [NetworkRule] = []
            for index in 0..<Int(random.next() % 12) {
                let action: NetworkRule.Action = random.chance(30) ? .deny : .allow
                let destination: NetworkRule.Destination
                if random.chance(15) {
                    destination = .network(random.pick([try CIDR.parse("10.0.0.0/8"), try CIDR.parse("10.1.0.0/16"), try CIDR.parse("93.184.0.0/16"),
                                                        try CIDR.parse("2001:db8::/32")]))
                } else if random.chance(40) {
                    destination = .domain(.wildcard(suffix: Self.host(&random)))
                } else {
                    destination = .domain(.exact(Self.host(&random)))
                }
                let ports = random.chance(40) ? [PortRange(random.pick([80, 443, 8000]), nil)] : []
                let methods = random.chance(25) ? NetworkRule.readOnlyMethods : nil
                rules.append(NetworkRule(id: "r\(index)", action: action, destination: destination, ports: ports,
                                         methods: action == .allow ? methods : nil, gitFetch: random.chance(20)))
            }
            let network = Fixture.network(random.pick(NetworkPolicy.Mode.allCases), rules)
            let matcher = EgressMatcher(network)
            for _ in 0..<3 {
                let address = random.chance(50) ? IPAddress(random.pick(["10.1.2.3", "10.9.9.9", "93.184.216.34", "127.0.0.1", "2001:db8::5",
                                                                         "::ffff:10.1.2.3", "8.8.4.4", "169.254.169.254"])) : nil
                let host = random.chance(85) || address == nil ? Self.host(&random) : nil
                let request = try #require(EgressRequest(host: host, address: address, port: random.pick([80, 443, 8000, 22]),
                                                         method: random.chance(50) ? random.pick(["GET", "POST", "DELETE"]) : nil,
                                                         path: random.pick(["/", "/r.git/git-upload-pack", nil])))
                let decision = matcher.evaluate(request)
                #expect(decision.allowed == Self.reference(network, request), "\(network.mode) \(rules.map(\.summary)) \(request) -> \(decision.sentence)")
            }
        }
    }

    @Test("wildcards never match the bare suffix or a name that merely ends with it", arguments: [7, 8])
    func wildcardProperty(_ seed: UInt64) {
        var random = Random(state: seed)
        for _ in 0..<2_000 {
            let suffix = Self.host(&random)
            let pattern = DomainPattern.wildcard(suffix: suffix)
            let prefix = Self.host(&random)
            #expect(pattern.matches(prefix + "." + suffix))
            #expect(!pattern.matches(suffix))
            #expect(!pattern.matches(prefix + suffix), "\(prefix + suffix) glued without a dot")
            #expect(!pattern.matches(suffix + "." + prefix) || (suffix + "." + prefix).hasSuffix("." + suffix))
        }
    }

    @Test("address text round-trips, and every IPv4 form judges like the IPv4 address", arguments: [11, 12])
    func addressProperty(_ seed: UInt64) throws {
        var random = Random(state: seed)
        for _ in 0..<2_000 {
            let v4 = UInt32(truncatingIfNeeded: random.next())
            let address = IPAddress.v4(v4)
            #expect(IPAddress(address.description) == address)
            let mapped = try #require(IPAddress("::ffff:" + address.description))
            #expect(mapped.canonical == address)
            #expect(AddressClass.of(mapped).class == AddressClass.of(address).class)
            let v6 = IPAddress.v6(high: random.next(), low: random.next())
            #expect(IPAddress(v6.description) == v6, "\(v6)")
        }
    }
}
