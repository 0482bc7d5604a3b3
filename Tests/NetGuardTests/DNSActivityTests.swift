import Policy
import Testing

@testable import NetGuard

/// Labels that look like encoded data, from a fixed seed (SplitMix64) so that every run sees
/// the same names and a failure can be replayed.
private struct DataLabels {
    var state: UInt64 = 0x5EED
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")

    mutating func next(_ length: Int) -> String {
        String((0..<length).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Self.alphabet[Int((z ^ (z >> 31)) % UInt64(Self.alphabet.count))]
        })
    }
}

/// One query as the guard would report it: the subdomain part split off its registered domain.
private struct Query {
    var subdomain: String
    var registered: String
    var at: UInt64
    var name: String { subdomain.isEmpty ? registered : "\(subdomain).\(registered)" }
}

private let second: UInt64 = 1_000_000_000
/// An arbitrary monotonic start, far from zero so that no window arithmetic starts at 0.
private let start: UInt64 = 50_000 * second

/// The count rules (14, 17, 19) driven query by query, as the guard drives them: each must fire
/// on the query that crosses its threshold, once, and not on the benign shapes builds produce.
@Suite("DNS activity: count rules")
struct DNSActivityTests {
    private func configured(_ policy: DetectionPolicy = DetectionPolicy()) -> DNSActivity {
        var activity = DNSActivity()
        activity.configure(policy)
        return activity
    }

    /// The findings of a query sequence, each with the 1-based number of the query that raised it.
    private func run(_ activity: inout DNSActivity, _ queries: [Query]) -> [(query: Int, finding: DetectionFinding)] {
        var out: [(query: Int, finding: DetectionFinding)] = []
        for (index, query) in queries.enumerated() {
            for finding in activity.query(registered: query.registered, subdomain: query.subdomain, name: query.name, now: query.at) {
                out.append((index + 1, finding))
            }
        }
        return out
    }

    @Test("9 unique data-shaped subdomains in an hour: one medium flag, on the 9th query")
    func subdomainCount() throws {
        var labels = DataLabels()
        var activity = configured()
        let queries = (0..<9).map { Query(subdomain: labels.next(20), registered: "example.com", at: start + UInt64($0) * 10 * second) }
        let found = run(&activity, queries)
        try #require(found.count == 1)
        #expect(found[0].query == 9)
        #expect(found[0].finding.rule == .subdomainCount && found[0].finding.severity == .medium)
        #expect(found[0].finding.evidence == "domain=example.com; subdomains=9; long=0; queries5m=9")

        // A 10th and 11th unique name: still the same level, so no second flag.
        let more = (9..<11).map { Query(subdomain: labels.next(20), registered: "example.com", at: start + UInt64($0) * 10 * second) }
        #expect(run(&activity, more).isEmpty)
    }

    @Test("the hour slides: 8 names, then a 9th after the first has aged out, is not a flag")
    func subdomainWindowSlides() {
        var labels = DataLabels()
        var activity = configured()
        var queries = (0..<8).map { Query(subdomain: labels.next(20), registered: "example.com", at: start + UInt64($0) * 60 * second) }
        queries.append(Query(subdomain: labels.next(20), registered: "example.com", at: start + 3_601 * second))
        #expect(run(&activity, queries).isEmpty)
        #expect(activity.domains["example.com"]?.subdomains.count == 8)
    }

    @Test("40 short CDN-like names during a build are not counted")
    func cdnNames() {
        var activity = configured()
        let queries = (0..<40).map { Query(subdomain: $0.isMultiple(of: 2) ? "edge-\($0 % 9)" : "img\($0)", registered: "cdn-example.net",
                                           at: start + UInt64($0) * second) }
        #expect(run(&activity, queries).isEmpty)
        #expect(activity.domains["cdn-example.net"]?.subdomains.isEmpty == true)
        #expect(activity.domains["cdn-example.net"]?.queries.count == 40)
    }

    /// A tunnel: 15 unique 30-character labels, then the client polling with earlier ones.
    private func tunnel(every spacing: UInt64) -> [Query] {
        var labels = DataLabels()
        let unique = (0..<15).map { _ in labels.next(30) }
        return (0..<25).map { Query(subdomain: unique[$0 % 15], registered: "exfil-test.net", at: start + UInt64($0) * spacing) }
    }

    @Test("a DNS tunnel's shape (15 long names, 25 queries in 5 minutes) is high by the 25th query")
    func tunnelShape() throws {
        var activity = configured()
        let found = run(&activity, tunnel(every: 10 * second))
        // Medium first, when the 9th unique name crosses the hourly count; high when both
        // five-minute counts are reached.
        #expect(found.map { "\($0.query):\($0.finding.severity)" } == ["9:medium", "25:high"])
        let high = try #require(found.first { $0.finding.severity == .high })
        #expect(high.query <= 25 && high.finding.rule == .subdomainCount)
        #expect(high.finding.evidence == "domain=exfil-test.net; subdomains=15; long=15; queries5m=25")
    }

    @Test("the same 25 queries spread over 6 minutes are not a tunnel")
    func slowTunnel() {
        var activity = configured()
        let found = run(&activity, tunnel(every: 15 * second))
        #expect(found.map { $0.finding.severity } == [.medium])
    }

    @Test("51 NXDOMAIN answers within a minute: one flag on the 51st, none after within the window")
    func nxdomainBurst() throws {
        var activity = configured()
        let times = (0..<71).map { start + UInt64($0) * 100_000_000 }
        let flagged = times.enumerated().compactMap { index, time in activity.nxdomain(now: time).map { (index + 1, $0) } }
        try #require(flagged.count == 1)
        #expect(flagged[0].0 == 51)
        #expect(flagged[0].1.rule == .nxdomainBurst && flagged[0].1.evidence == "nxdomain=51")

        // A minute after the flag the old answers have aged out: a new burst is a new flag.
        let later = times[50] + 61 * second
        let again = (0..<51).compactMap { activity.nxdomain(now: later + UInt64($0) * 100_000_000) }
        #expect(again.map(\.evidence) == ["nxdomain=51"])
    }

    @Test("50 NXDOMAIN answers, or 51 spread over more than a minute, are not a burst")
    func nxdomainBelowBurst() {
        var activity = configured()
        #expect((0..<50).allSatisfy { activity.nxdomain(now: start + UInt64($0) * second) == nil })
        var slow = configured()
        #expect((0..<51).allSatisfy { slow.nxdomain(now: start + UInt64($0) * 2 * second) == nil })
    }

    @Test("distinct names past 10,000 characters: one dns-volume flag on the crossing query")
    func volume() throws {
        var activity = configured()
        // Short subdomains over 20 domains, so neither the count rule nor the per-domain
        // volume can be what fires.
        let queries = (0..<600).map { Query(subdomain: "h\($0)", registered: "mirror-\($0 % 20).example", at: start + UInt64($0) * 10_000_000) }
        var total = 0
        let crossing = try #require(queries.firstIndex { total += $0.name.count; return total > 10_000 })
        let expected = queries[...crossing].reduce(0) { $0 + $1.name.count }

        let found = run(&activity, queries)
        #expect(found.map { $0.query } == [crossing + 1])
        #expect(found.first?.finding.rule == .dnsVolume && found.first?.finding.evidence == "characters=\(expected)")

        // Asking the same names again carries no new information and adds nothing.
        let before = activity.volumeCharacters
        #expect(run(&activity, queries.map { Query(subdomain: $0.subdomain, registered: $0.registered, at: $0.at + 60 * second) }).isEmpty)
        #expect(activity.volumeCharacters == before)
    }

    @Test("repeating one name thousands of times is not volume")
    func repeatedName() {
        var activity = configured()
        let queries = (0..<2_000).map { Query(subdomain: "www", registered: "example.com", at: start + UInt64($0) * second) }
        #expect(run(&activity, queries).isEmpty)
        #expect(activity.volumeCharacters == "www.example.com".count)
    }

    @Test("more than 4 kB of subdomain characters to one domain: a per-domain volume flag")
    func domainVolume() {
        var labels = DataLabels()
        var activity = configured()
        // 82 × 50 = 4,100 bytes of information, 82 × 62 = 5,084 characters in all (under 10,000).
        let queries = (0..<82).map { Query(subdomain: labels.next(50), registered: "example.com", at: start + UInt64($0) * second) }
        let volume = run(&activity, queries).filter { $0.finding.rule == .dnsVolume }
        #expect(volume.map { $0.query } == [82])
        #expect(volume.first?.finding.evidence == "domain=example.com; bytes=4100")
    }

    @Test("answer characters count toward the sandbox's volume")
    func answerVolume() {
        var activity = configured()
        #expect(activity.answered(characters: 10_000) == nil)
        #expect(activity.answered(characters: 1)?.evidence == "characters=10001")
        #expect(activity.answered(characters: 5_000) == nil, "one flag per sandbox")
    }
}
