import Glibc
import Policy

/// Egress decisions per second on one core, and per-decision latency, against a policy of
/// 10,000 allow rules (half exact names, half wildcards) and 1,000 deny rules.
enum EgressBench {
    static func policy() -> NetworkPolicy {
        var network = NetworkPolicy()
        network.mode = .allowlist
        for index in 0..<5_000 {
            network.rules.append(NetworkRule(id: "a\(index)", action: .allow, destination: .domain(.exact("host-\(index).example-\(index % 97).com")),
                                             ports: [PortRange(443)], methods: index % 3 == 0 ? NetworkRule.readOnlyMethods : nil))
            network.rules.append(NetworkRule(id: "w\(index)", action: .allow, destination: .domain(.wildcard(suffix: "svc-\(index).corp-\(index % 89).net"))))
        }
        for index in 0..<500 {
            network.rules.append(NetworkRule(id: "d\(index)", action: .deny, destination: .domain(.exact("bad-\(index).example-\(index % 97).com"))))
            network.rules.append(NetworkRule(id: "dw\(index)", action: .deny, destination: .domain(.wildcard(suffix: "evil-\(index).net"))))
        }
        return network
    }

    /// A mix: 40% exact hits, 30% wildcard hits three labels deep, 15% denied, 15% unknown.
    static func requests(count: Int) -> [EgressRequest] {
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        var result: [EgressRequest] = []
        result.reserveCapacity(count)
        while result.count < count {
            let index = next() % 5_000, bucket = next() % 100
            let host: String
            switch bucket {
            case 0..<40: host = "host-\(index).example-\(index % 97).com"
            case 40..<70: host = "api.v2.svc-\(index).corp-\(index % 89).net"
            case 70..<78: host = "bad-\(index % 500).example-\(index % 500 % 97).com"
            case 78..<85: host = "x.evil-\(index % 500).net"
            default: host = "unknown-\(index).example.org"
            }
            if let request = EgressRequest(host: host, port: 443, method: bucket % 2 == 0 ? "GET" : "POST") { result.append(request) }
        }
        return result
    }

    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static func run() {
        let network = policy()
        let buildStart = now()
        let matcher = EgressMatcher(network)
        let buildMs = Double(now() - buildStart) / 1e6
        let requests = requests(count: 100_000)
        var allowed = 0
        for request in requests.prefix(20_000) where matcher.evaluate(request).allowed { allowed += 1 }

        let rounds = 20
        var rates: [Double] = []
        for _ in 0..<rounds {
            let start = now()
            for request in requests where matcher.evaluate(request).allowed { allowed += 1 }
            rates.append(Double(requests.count) / (Double(now() - start) / 1e9))
        }
        var latencies: [Double] = []
        latencies.reserveCapacity(200_000)
        for round in 0..<2 {
            for request in requests {
                let start = now()
                let decision = matcher.evaluate(request)
                let elapsed = now() - start
                if decision.allowed { allowed += 1 }
                if round == 1 { latencies.append(Double(elapsed)) }
            }
        }
        var clockCost: [Double] = []
        for _ in 0..<100_000 {
            let start = now()
            clockCost.append(Double(now() - start))
        }
        latencies.sort()
        func at(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let rate = median(rates)
        print("\nEgress decisions on one core (one thread): \(network.rules.count) rules (5,000 exact + 5,000 wildcard allow, 1,000 deny), 100,000 mixed requests")
        print("  matcher built in \(Double(Int(buildMs * 10)) / 10) ms")
        print("  throughput: median of \(rounds) rounds \(Int(rate / 1000)) k decisions/s (min \(Int((rates.min() ?? 0) / 1000)) k, max \(Int((rates.max() ?? 0) / 1000)) k); target >= 1,000 k")
        print("  latency per decision (\(latencies.count) timed calls, clock_gettime pair included, which alone costs median \(Int(median(clockCost))) ns):")
        print("    p50 \(Int(at(0.5))) ns, p99 \(Int(at(0.99))) ns, p99.9 \(Int(at(0.999))) ns; target p99 < 5000 ns")
        print("  (allowed decisions seen: \(allowed))")
        EgressBench.summary = (rate, at(0.99))
    }

    /// Read by the summary line. Safe unsynchronized: the benchmark is one thread from start to end.
    nonisolated(unsafe) static var summary: (rate: Double, p99: Double) = (0, 0)
}
