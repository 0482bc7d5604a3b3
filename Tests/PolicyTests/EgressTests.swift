import Testing
@testable import Policy

@Suite("Egress decisions")
struct EgressTests {
    func decide(_ network: NetworkPolicy, _ request: EgressRequest?) throws -> EgressDecision {
        EgressMatcher(network).evaluate(try #require(request))
    }

    @Test("*.example.com matches subdomains only", arguments: [
        ("a.example.com", true), ("a.b.example.com", true), ("A.Example.COM.", true), ("example.com", false),
        ("example.com.evil.net", false), ("badexample.com", false), ("a.badexample.com", false), ("examplecom", false),
        ("xexample.com", false), ("a.example.co", false),
    ])
    func wildcard(_ host: String, _ expected: Bool) throws {
        let network = Fixture.network(.allowlist, [try Fixture.rule(.allow, "*.example.com")])
        #expect(try decide(network, Fixture.request(host)).allowed == expected, "\(host)")
    }

    @Test("deny wins over allow, whatever the order and specificity")
    func denyWins() throws {
        let rules = [try Fixture.rule(.allow, "api.example.com"), try Fixture.rule(.deny, "*.example.com"),
                     try Fixture.rule(.allow, "*.example.org"), try Fixture.rule(.deny, "x.example.org", ports: [443])]
        for mode in [NetworkPolicy.Mode.allowlist, .monitor] {
            let network = Fixture.network(mode, rules)
            let denied = try decide(network, Fixture.request("api.example.com"))
            #expect(!denied.allowed && denied.rule == "deny:*.example.com", "\(mode)")
            #expect(try !decide(network, Fixture.request("x.example.org")).allowed)
            #expect(try decide(network, Fixture.request("x.example.org", port: 80)).allowed == true, "the deny rule is for port 443 only")
            #expect(try decide(network, Fixture.request("y.example.org")).allowed)
        }
        let cidrDeny = Fixture.network(.allowlist, [try Fixture.rule(.allow, "10.1.0.0/16"), try Fixture.rule(.deny, "10.1.2.0/24")])
        #expect(try !decide(cidrDeny, Fixture.request(nil, ip: "10.1.2.3")).allowed)
        #expect(try decide(cidrDeny, Fixture.request(nil, ip: "10.1.3.3")).allowed)
    }

    @Test("modes: none refuses all; allowlist only rules; monitor public; open everything but forbidden ranges")
    func modes() throws {
        let rules = [try Fixture.rule(.allow, "pypi.org"), try Fixture.rule(.deny, "evil.test")]
        #expect(try !decide(Fixture.network(.none, rules), Fixture.request("pypi.org")).allowed)
        #expect(try decide(Fixture.network(.allowlist, rules), Fixture.request("pypi.org")).allowed)
        let unknown = try decide(Fixture.network(.allowlist, rules), Fixture.request("other.org"))
        #expect(!unknown.allowed && unknown.rule == "default-deny")
        #expect(try decide(Fixture.network(.monitor, rules), Fixture.request("other.org", ip: "93.184.216.34")).allowed)
        #expect(try !decide(Fixture.network(.monitor, rules), Fixture.request("evil.test")).allowed)
        let open = try decide(Fixture.network(.open, rules), Fixture.request("evil.test"))
        #expect(open.allowed && open.reason == .openMode(wouldDenyBy: "deny:evil.test"))
        #expect(open.sentence.contains("would deny"))
        #expect(try !decide(Fixture.network(.open, rules), Fixture.request("x.test", ip: "169.254.169.254")).allowed)
    }

    @Test("forbidden ranges are refused whatever the rules, in every spelling (R20)", arguments: [
        "127.0.0.1", "0.0.0.0", "169.254.169.254", "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "fe80::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "::ffff:7f00:1", "ff02::1",
    ])
    func forbidden(_ address: String) throws {
        var network = Fixture.network(.open, [try Fixture.rule(.allow, "0.0.0.0/0"), try Fixture.rule(.allow, "::/0")])
        network.mode = .open
        let decision = try decide(network, Fixture.request("metadata.test", ip: address))
        #expect(!decision.allowed && decision.rule == "address-class", "\(address)")
    }

    @Test("internal ranges only through an explicit cidr rule")
    func internalRanges() throws {
        let byName = Fixture.network(.allowlist, [try Fixture.rule(.allow, "git.corp.test")])
        let refused = try decide(byName, Fixture.request("git.corp.test", ip: "10.20.30.40"))
        #expect(!refused.allowed && refused.sentence.contains("internal"))
        #expect(try !decide(Fixture.network(.monitor, []), Fixture.request("x.test", ip: "192.168.1.1")).allowed)
        #expect(try !decide(Fixture.network(.monitor, []), Fixture.request("x.test", ip: "::ffff:10.0.0.1")).allowed)
        let withRule = Fixture.network(.allowlist, [try Fixture.rule(.allow, "git.corp.test"), try Fixture.rule(.allow, "10.20.0.0/16")])
        #expect(try decide(withRule, Fixture.request("git.corp.test", ip: "10.20.30.40")).allowed)
        #expect(try !decide(withRule, Fixture.request("git.corp.test", ip: "10.21.0.1")).allowed)
    }

    @Test("methods: read-only rules refuse POST, except git fetch where granted")
    func methods() throws {
        let rules = [try Fixture.rule(.allow, "pypi.org", ports: [443], methods: NetworkRule.readOnlyMethods),
                     try Fixture.rule(.allow, "git.example.com", methods: NetworkRule.readOnlyMethods, gitFetch: true)]
        let network = Fixture.network(.allowlist, rules)
        #expect(try decide(network, Fixture.request("pypi.org", method: "get")).allowed)
        let post = try decide(network, Fixture.request("pypi.org", method: "POST"))
        #expect(!post.allowed && post.reason == .methodNotAllowed && post.sentence.contains("POST"))
        #expect(try !decide(network, Fixture.request("pypi.org", port: 80, method: "GET")).allowed, "port 80 is not in the rule")
        #expect(try decide(network, Fixture.request("git.example.com", method: "POST", path: "/o/r.git/git-upload-pack")).allowed)
        #expect(try !decide(network, Fixture.request("git.example.com", method: "POST", path: "/o/r.git/git-receive-pack")).allowed)
        #expect(try !decide(network, Fixture.request("git.example.com", method: "POST", path: "/git-upload-pack.evil/x")).allowed)
        #expect(try decide(network, Fixture.request("pypi.org")).allowed, "before the method is known (TLS), the rule allows the connection")
    }

    @Test("a repository's egressAllowlist narrows the org policy, and widens it only when the org says so")
    func repositoryAllowlist() throws {
        var network = Fixture.network(.allowlist, [try Fixture.rule(.allow, "pypi.org"), try Fixture.rule(.allow, "registry.npmjs.org"),
                                                   try Fixture.rule(.deny, "evil.test")])
        let repository = [try DomainPattern.parse("pypi.org", forAllow: true), try DomainPattern.parse("extra.example.com", forAllow: true),
                          try DomainPattern.parse("evil.test", forAllow: true)]
        var policy = EgressPolicy(network: network, repositoryAllowlist: repository)
        #expect(policy.evaluate(try #require(Fixture.request("pypi.org"))).allowed)
        let narrowed = policy.evaluate(try #require(Fixture.request("registry.npmjs.org")))
        #expect(!narrowed.allowed && narrowed.rule == "repository.egressAllowlist")
        #expect(!policy.evaluate(try #require(Fixture.request("extra.example.com"))).allowed, "no widening by default")
        network.repositoryMayWiden = true
        policy = EgressPolicy(network: network, repositoryAllowlist: repository)
        #expect(policy.evaluate(try #require(Fixture.request("extra.example.com"))).allowed)
        #expect(!policy.evaluate(try #require(Fixture.request("evil.test"))).allowed, "widening never beats a deny rule")
        #expect(!policy.evaluate(try #require(Fixture.request("extra.example.com", ip: "10.0.0.1"))).allowed, "nor an address class")
    }

    @Test("running agents: a new deny rule applies at once; a new allow rule does not")
    func runningAgents() throws {
        var policy = Fixture.policy
        policy.network = Fixture.network(.allowlist, [try Fixture.rule(.allow, "pypi.org"), try Fixture.rule(.allow, "files.example.com")])
        let snapshot = PolicyEvaluator(policy).snapshot(newAgentOf: Fixture.principal(Fixture.alice), policyVersion: 1)
        var current = policy
        current.network.rules.append(try Fixture.rule(.deny, "files.example.com"))
        current.network.rules.append(try Fixture.rule(.allow, "new.example.com"))
        let running = EgressPolicy.forRunningAgent(snapshot, current: current)
        #expect(running.evaluate(try #require(Fixture.request("pypi.org"))).allowed)
        #expect(!running.evaluate(try #require(Fixture.request("files.example.com"))).allowed)
        #expect(!running.evaluate(try #require(Fixture.request("new.example.com"))).allowed, "loosening never reaches a running agent")
        current.network.mode = .none
        #expect(!EgressPolicy.forRunningAgent(snapshot, current: current).evaluate(try #require(Fixture.request("pypi.org"))).allowed)
    }

    @Test("too-broad allow patterns are refused; deny rules may be broad", arguments: ["*", "*.com", "*.co.uk", "*.github.io", "*.webhook.site"])
    func tooBroad(_ pattern: String) throws {
        #expect(throws: PolicyError.self) { try DomainPattern.parse(pattern, forAllow: true) }
        _ = try DomainPattern.parse(pattern, forAllow: false)
    }

    @Test("bad destinations are refused with a reason", arguments: [
        "", "exa mple.com", "-bad.com", "bad-.com", "a..b", "*foo.com", "foo.*.com", "ex*ample.com", "\u{1F600}.com", "1.2.3.4",
        String(repeating: "a", count: 64) + ".com",
    ])
    func badDomains(_ text: String) {
        #expect(throws: PolicyError.self) { try DomainPattern.parse(text, forAllow: false) }
    }
}

@Suite("Egress decisions: review regressions")
struct EgressReviewTests {
    @Test("deny rules written in IPv6 spellings of IPv4 networks match both spellings", arguments: ["::ffff:93.184.216.0/120", "64:ff9b::5db8:d800/120"])
    func mappedDenyRules(_ rule: String) throws {
        let network = Fixture.network(.monitor, [try Fixture.rule(.deny, rule)])
        for address in ["93.184.216.34", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"] {
            #expect(!EgressMatcher(network).evaluate(try #require(Fixture.request("x.test", ip: address))).allowed, "\(rule) \(address)")
        }
        #expect(EgressMatcher(network).evaluate(try #require(Fixture.request("x.test", ip: "93.184.217.1"))).allowed)
    }

    @Test("more forbidden spellings and ranges (R20)", arguments: [
        "::ffff:0:7f00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "64:ff9b:1::7f00:1", "2001:0:4136:e378::1", "fd00:ec2::254",
        "192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1",
    ])
    func forbiddenSpellings(_ address: String) throws {
        let network = Fixture.network(.open, [try Fixture.rule(.allow, "fd00::/8")])
        #expect(!EgressMatcher(network).evaluate(try #require(Fixture.request("x.test", ip: address))).allowed, "\(address)")
    }

    @Test("numeric host names are addresses in disguise and are refused", arguments: ["127.1", "2130706433", "0x7f.0.0.1", "127.0.0.01", "10.0.0.010"])
    func numericNames(_ host: String) {
        #expect(EgressRequest(host: host, port: 443) == nil, "\(host)")
        #expect(throws: PolicyError.self) { try DomainPattern.parse(host, forAllow: false) }
    }

    @Test("a method-limited rule allows a connection before its method is known only with methodsPending")
    func methodsPending() throws {
        let network = Fixture.network(.allowlist, [try Fixture.rule(.allow, "pypi.org", methods: NetworkRule.readOnlyMethods),
                                                   try Fixture.rule(.allow, "files.example.com")])
        let tls = EgressMatcher(network).evaluate(try #require(Fixture.request("pypi.org")))
        #expect(tls.allowed && tls.methodsPending && tls.sentence.contains("each request's method"))
        #expect(!EgressMatcher(network).evaluate(try #require(Fixture.request("files.example.com"))).methodsPending)
        #expect(!EgressMatcher(network).evaluate(try #require(Fixture.request("pypi.org", method: "GET"))).methodsPending)
    }

    @Test("shared hosting suffixes are too broad for allow rules", arguments: ["*.s3.amazonaws.com", "*.eu-west-1.amazonaws.com", "*.uk.com", "*.co.com"])
    func sharedSuffixes(_ pattern: String) {
        #expect(throws: PolicyError.self) { try DomainPattern.parse(pattern, forAllow: true) }
    }

    @Test("a repository allow list of * never widens")
    func repositoryStar() throws {
        var network = Fixture.network(.allowlist, [])
        network.repositoryMayWiden = true
        let policy = EgressPolicy(network: network, repositoryAllowlist: [try DomainPattern.parse("*", forAllow: false)])
        #expect(!policy.evaluate(try #require(Fixture.request("anything.example.com"))).allowed)
    }

    @Test("explain's change check reads every spelling of off")
    func enforcedSpellings() {
        var policy = Fixture.policy
        policy.privacy.enforced = true
        for value in ["off", "false", "no", "OFF"] {
            #expect(!PolicyEvaluator(policy).mayChange(Fixture.principal(Fixture.alice), setting: "privacy.users.alice", newValue: value).allowed, "\(value)")
        }
    }
}
