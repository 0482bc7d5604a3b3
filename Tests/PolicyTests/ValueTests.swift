import Testing
@testable import Policy

@Suite("Policy values")
struct ValueTests {
    @Test("durations parse and print", arguments: [("3d", Int64(259_200), "3d"), ("90d", 7_776_000, "90d"), ("1w2d", 777_600, "9d"),
                                                  ("36h", 129_600, "1d12h"), ("45m", 2_700, "45m"), ("1d1s", 86_401, "1d1s")])
    func durations(_ text: String, _ seconds: Int64, _ printed: String) throws {
        let duration = try PolicyDuration.parse(text)
        #expect(duration.seconds == seconds)
        #expect(duration.description == printed)
        #expect(try PolicyDuration.parse(printed) == duration)
    }

    @Test("bad durations are refused", arguments: ["", "3", "d", "3x", "-3d", "3d4", "99999999999d", "0d", "3 d", "1.5d"])
    func badDurations(_ text: String) {
        #expect(throws: PolicyError.self) { try PolicyDuration.parse(text) }
    }

    @Test("CIDRs: host bits, prefix bounds and garbage are refused", arguments: [
        "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1", "fd00::/129", "fd00::1/8", "10.0.0/8", "010.0.0.0/8", "1.2.3.4.5", "::1::2", "10.0.0.0/8/8", "x",
    ])
    func badCIDRs(_ text: String) {
        #expect(throws: PolicyError.self) { try CIDR.parse(text) }
    }

    @Test("CIDR containment")
    func cidr() throws {
        let net = try CIDR.parse("10.1.0.0/16")
        #expect(net.contains(try #require(IPAddress("10.1.255.255"))))
        #expect(!net.contains(try #require(IPAddress("10.2.0.0"))))
        let v6 = try CIDR.parse("2001:db8::/32")
        #expect(v6.contains(try #require(IPAddress("2001:db8:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db9::1"))))
        #expect(!v6.contains(try #require(IPAddress("10.1.0.1"))))
        #expect(try CIDR.parse("::/0").contains(try #require(IPAddress("::1"))))
    }

    @Test("every setting key reads back what was set, and bad values are refused")
    func settingsRoundTrip() throws {
        let samples: [String: String] = [
            "defaults.model": "claude-x", "defaults.repository": "acme/app", "defaults.branch": "develop", "defaults.agentCommand": "/usr/local/bin/agent --auto", "security.userRestriction": "allowlist",
            "security.allowedUsers": "", "security.webhook": "https://hooks.example/warden", "network.mode": "monitor", "sandbox.memory": "2G", "sandbox.minFreeDisk": "512M", "sandbox.pids": "512", "sandbox.cpus": "1.5",
            "sandbox.timeout": "2h", "sandbox.seccompProfile": "strict", "sandbox.requiredLayers": "seccomp,landlock",
            "retention.agentData": "5d", "retention.audit": "30d", "visibility.agents": "team", "visibility.content": "own",
            "network.dnsUpstream": "192.0.2.53:5353", "network.tlsExclude": "pinned.example.com,10.9.0.0/16",
            "network.tlsTrustedCAs": "/etc/warden/corp-ca.pem", "detection.allowedPorts": "80,443,8443",
            "detection.publishTargets": "upload.pypi.org,*.registry.example", "detection.services": "paste.example,hooks.example/api/",
        ]
        var policy = OrgPolicy()
        for descriptor in PolicySettings.descriptors {
            let value = samples[descriptor.key] ?? (descriptor.key.hasPrefix("sandbox.weakening.") ? "role:admin,role:member"
                : descriptor.key.hasPrefix("detection.action.") ? "stop" : descriptor.key.hasPrefix("detection.threshold.") ? "0.5" : "off")
            try PolicySettings.set(&policy, descriptor.key, value)
            #expect(try PolicySettings.get(policy, descriptor.key) == value, "\(descriptor.key)")
        }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "network.mode", "wide-open") }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "security.teamFollowUps", "maybe") }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "nope", "1") }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "defaults.branch", "a..b") }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "network.dnsUpstream", "resolver.example") }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "defaults.agentCommand", "agent --auto") }
        for webhook in ["http://hooks.example/x", "ftp://127.0.0.1/x", "https://user:pw@hooks.example/", "https://", "https://a b/"] {
            #expect(throws: PolicyError.self, "\(webhook)") { try PolicySettings.set(&policy, "security.webhook", webhook) }
        }
        for webhook in ["http://127.0.0.1:8080/hook", "http://[::1]/h", "http://localhost/h", ""] {
            try PolicySettings.set(&policy, "security.webhook", webhook)
        }
        try PolicySettings.set(&policy, "defaults.agentCommand", "")
        #expect(policy.defaults.agentCommand.isEmpty, "empty: no default agent program")
        try PolicySettings.set(&policy, "network.dnsUpstream", "fd00::53")
        #expect(try PolicySettings.get(policy, "network.dnsUpstream") == "[fd00::53]:53", "written in one canonical form")
        try PolicySettings.set(&policy, "network.dnsUpstream", "none")
        #expect(policy.network.dnsUpstream == nil)
    }

    @Test("the validator names unknown users, duplicates and broad allow rules by path")
    func validator() throws {
        var policy = Fixture.policy
        policy.security.allowedUsers = ["alice", "mallory"]
        policy.privacy.users["eve"] = false
        policy.users.append(PolicyUser(name: "alice", uid: 9, role: .member))
        policy.network.rules = [NetworkRule(id: "r", action: .allow, destination: .domain(.wildcard(suffix: "com"))),
                                NetworkRule(id: "r", action: .allow, destination: .network(try CIDR.parse("0.0.0.0/0")))]
        let paths = Set(PolicyValidator.problems(policy).compactMap(\.path))
        #expect(paths.isSuperset(of: ["security.allowedUsers[1]", "privacy.users.eve", "users[4].name", "network.rules[0].domain",
                                      "network.rules[1].id", "network.rules[1].cidr"]), "\(paths)")
        #expect(PolicyValidator.problems(Fixture.policy).isEmpty)
    }

    @Test("changes between versions list every key, users and rules included")
    func changes() throws {
        let old = Fixture.policy
        var new = old
        new.users.removeAll { $0.name == "bob" }
        new.network.rules.append(try Fixture.rule(.deny, "evil.test"))
        new.security.teamFollowUps = false
        let changes = SettingChange.between(old, new)
        #expect(changes.map(\.key) == ["network.rules.deny:evil.test", "security.teamFollowUps", "users.bob"])
        #expect(changes[1].old == "on" && changes[1].new == "off")
        #expect(changes[2].new == nil)
    }
}
