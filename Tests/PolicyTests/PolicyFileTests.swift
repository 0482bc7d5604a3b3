import Foundation
import Testing
@testable import Admin
@testable import Policy

@Suite("Policy files")
struct PolicyFileTests {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func shipped(_ relative: String) throws -> String {
        try String(contentsOfFile: repository + "/policies/" + relative, encoding: .utf8)
    }

    @Test("policies/org.yaml is valid and equals the built-in policy")
    func shippedDefault() throws {
        #expect(try PolicyFileReader.read(try Self.shipped("org.yaml"), file: "org.yaml") == OrgPolicy.builtIn)
    }

    @Test("the common-dependencies preset reads, and allows registries read-only")
    func preset() throws {
        let preset = try NetworkPreset.read(try Self.shipped("presets/common-dependencies.yaml"), file: "common-dependencies.yaml")
        var policy = OrgPolicy()
        preset.apply(to: &policy)
        preset.apply(to: &policy)
        #expect(policy.network.rules.count == preset.rules.count, "applying twice replaces, not duplicates")
        let evaluator = PolicyEvaluator(policy)
        #expect(evaluator.egress(try #require(EgressRequest(host: "pypi.org", port: 443, method: "GET"))).allowed)
        #expect(!evaluator.egress(try #require(EgressRequest(host: "pypi.org", port: 443, method: "POST"))).allowed)
        #expect(!evaluator.egress(try #require(EgressRequest(host: "webhook.site", port: 443))).allowed)
    }

    @Test("a complex policy survives write then read")
    func roundTrip() throws {
        var policy = Fixture.policy
        policy.defaults.model = "yes"
        policy.defaults.repository = "acme/app: \"x\"\n"
        policy.security.userRestriction = .allowlist
        policy.security.allowedUsers = ["alice"]
        policy.privacy.users = ["bob": false]
        policy.privacy.enforced = true
        policy.retention.agentData = PolicyDuration(seconds: 129_600)
        policy.network.mode = .monitor
        policy.network.rules = [try Fixture.rule(.allow, "*.example.com", ports: [443], methods: NetworkRule.readOnlyMethods, gitFetch: true),
                                try Fixture.rule(.deny, "2001:db8::/32"), try Fixture.rule(.allow, "10.0.0.0/8", id: "corp net")]
        policy.network.tls.exclude = ["pinned.example.com", "10.9.0.0/16"]
        policy.network.tls.trustedCAs = ["/etc/warden/corp-ca.pem"]
        policy.sandbox.cpus = 1.5
        policy.sandbox.timeout = PolicyDuration(seconds: 7_200)
        policy.sandbox.weakening[.readWriteBind] = WeakeningGrant(roles: [.admin], users: ["alice"])
        policy.visibility.agents = .team
        let text = PolicyFileWriter.write(policy)
        #expect(try PolicyFileReader.read(text, file: "x.yaml") == policy)
    }

    static let valid = (try? shipped("org.yaml")) ?? ""

    static func edited(_ old: String, _ new: String) -> String { valid.replacingOccurrences(of: old, with: new) }

    @Test("bad input gets file, line and what is expected", arguments: [
        (edited("  mode: allowlist", "  mode: wide"), 42, "expected one of none, allowlist, monitor, open"),
        (edited("  teamFollowUps: true", "  teamFollowUps: maybe"), 24, "expected true or false"),
        (edited("  teamFollowUps: true", "  teamFollowUps: true\n  colour: blue"), 25, "unknown key \"colour\""),
        (edited("  agentData: 3d", "  agentData: 3 days"), 38, "expected a duration"),
        (edited("  rules: []", "  rules:\n    - {action: allow, domain: \"*.com\"}"), 69, "too broad"),
        (edited("  rules: []", "  rules:\n    - {action: allow, cidr: 10.0.0.1/8}"), 69, "host bits"),
        (edited("  rules: []", "  rules:\n    - {action: allow, domain: \"exa mple.com\"}"), 69, "expected a domain name"),
        (edited("  allowedUsers: []", "  allowedUsers: [mallory]"), 22, "unknown user \"mallory\""),
        (edited("\nusers: []", "\nusers:\n  - {name: alice, uid: lots, role: member}"), 12, "numeric OS uid"),
        (edited("  pids: 1024", "  pids: [1024]"), 71, "expected a single value"),
        (edited("version: 1", "version: 2"), 9, "unsupported format version"),
        (edited("  dnsUpstream: none", "  dnsUpstream: resolver.example"), 46, "expected an IP address"),
        (edited("  branch: main", "  branch: main\n  model: again"), 13, "given twice"),
        (edited("  webhook: \"\"", "  webhook: http://hooks.example/x"), 30, "plain http only to loopback"),
        (edited("    exclude: []", "    exclude: [\"bad host\"]"), 53, "domain pattern or a network"),
        (edited("    trustedCAs: []", "    trustedCAs: [ca.pem]"), 54, "absolute path"),
        (edited("    exclude: []\n", ""), 52, "missing key \"exclude\""),
        (edited("    actions: {}", "    actions: {raw-address: sometimes}"), 65, "expected one of record, block, stop"),
        (edited("    actions: {}", "    actions: {destination-not-allowed: record}"), 65, "block or stop"),
        (edited("    actions: {}", "    actions: {no-such-rule: block}"), 65, "unknown detection rule"),
        (edited("    thresholds: {}", "    thresholds: {asymmetryRatio: 2}"), 66, "at most 1"),
        (edited("    thresholds: {}", "    thresholds: {uploadFlagBytes: lots}"), 66, "expected a number"),
        (edited("    allowedPorts: [80, 443]", "    allowedPorts: [80, 0]"), 62, "expected a port"),
        (edited("    publishTargets: []", "    publishTargets: [\"*\"]"), 63, "domain pattern"),
    ])
    func errors(_ text: String, _ line: Int, _ expected: String) {
        #expect(text != Self.valid)
        do {
            _ = try PolicyFileReader.read(text, file: "org.yaml")
            Issue.record("accepted: \(expected)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.description.hasPrefix("org.yaml:\(line): "), "\(error)")
            #expect(error.message.contains(expected), "\(error)")
        }
    }

    @Test("a policy file cut short anywhere is refused, never completed with defaults")
    func truncated() throws {
        var policy = Fixture.policy
        policy.network.rules = [try Fixture.rule(.allow, "pypi.org"), try Fixture.rule(.deny, "evil.test")]
        let text = PolicyFileWriter.write(policy)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var accepted: [Int] = []
        for count in 0..<(lines.count - 1) where !(lines.count - 2 == count && lines[count].isEmpty) {
            let cut = lines[0..<count].joined(separator: "\n")
            if (try? PolicyFileReader.read(cut, file: "cut.yaml")) != nil { accepted.append(count) }
        }
        #expect(accepted.isEmpty || accepted == [lines.count - 1], "accepted after cutting to \(accepted) lines")
        for bytes in stride(from: 1, to: text.utf8.count - 1, by: 7) {
            let cut = String(decoding: Array(text.utf8.prefix(bytes)), as: UTF8.self)
            if let read = try? PolicyFileReader.read(cut, file: "cut.yaml") {
                #expect(read == policy, "a cut at byte \(bytes) read as a different policy")
            }
        }
    }

    @Test("corrupt files are refused: binary, NUL bytes, not a mapping, aliases, duplicate keys", arguments: [
        "\u{0}\u{1}\u{2}garbage", "just a string", "- a\n- b\n", "version: 1\nversion: 1\n", "{{{{", "version: &a 1\nusers: *a\n",
    ])
    func corrupt(_ text: String) {
        #expect(throws: PolicyFileError.self) { try PolicyFileReader.read(text, file: "bad.yaml") }
    }
}
