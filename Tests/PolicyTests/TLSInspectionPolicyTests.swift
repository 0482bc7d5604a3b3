import Foundation
@testable import Policy
import Testing

/// TLS inspection's policy: which connections are inspected, what the settings accept, and
/// how reads made with POST (git fetch, npm audit) pass read-only rules once requests inside
/// TLS are judged.
struct TLSInspectionPolicyTests {
    @Test("every allowed host is inspected unless excluded by name or network, or inspection is off")
    func treatment() throws {
        var network = Fixture.network(.allowlist, [])
        network.tls.exclude = ["*.pinned.test", "10.9.0.0/16"]
        let policy = EgressPolicy(network: network)
        let address = try #require(IPAddress("203.0.113.7"))
        #expect(policy.tlsTreatment(host: "pypi.org", address: address) == .inspect)
        #expect(policy.tlsTreatment(host: "api.pinned.test", address: address) == .excluded)
        #expect(policy.tlsTreatment(host: nil, address: try #require(IPAddress("10.9.1.1"))) == .excluded)
        #expect(policy.tlsTreatment(host: "pinned.test.evil.org", address: address) == .inspect, "a suffix match, not a substring")
        network.tls.inspect = false
        #expect(EgressPolicy(network: network).tlsTreatment(host: "pypi.org", address: address) == .notInspected)
    }

    @Test("settings refuse what would not parse, and change nothing then")
    func settings() throws {
        var policy = OrgPolicy()
        try PolicySettings.set(&policy, "network.tlsExclude", "pinned.example.com, 10.1.0.0/16")
        #expect(policy.network.tls.exclude == ["pinned.example.com", "10.1.0.0/16"])
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "network.tlsExclude", "not a host") }
        #expect(throws: PolicyError.self) { try PolicySettings.set(&policy, "network.tlsTrustedCAs", "relative/ca.pem") }
        #expect(policy.network.tls.exclude == ["pinned.example.com", "10.1.0.0/16"], "a refused value changes nothing")
        try PolicySettings.set(&policy, "network.tlsInspection", "off")
        #expect(try PolicySettings.get(policy, "network.tlsInspection") == "off")
        #expect(PolicyValidator.problems(policy).isEmpty)
    }

    @Test("a policy stored before inspection existed decodes with it on")
    func oldPolicies() throws {
        let json = #"{"mode":"allowlist","rules":[],"repositoryMayWiden":false}"#
        let network = try JSONDecoder().decode(NetworkPolicy.self, from: Data(json.utf8))
        #expect(network.tls.inspect && network.tls.exclude.isEmpty && network.tls.trustedCAs.isEmpty)
        let round = try JSONDecoder().decode(NetworkPolicy.self, from: JSONEncoder().encode(network))
        #expect(round == network)
    }

    @Test("read-only: git fetch and npm audit are reads; a push and other POSTs are not")
    func postReads() throws {
        let rule = try RuleSyntax.parse("registry.test@read-only", action: .allow)
        #expect(rule.gitFetch && rule.isReadOnly)
        let network = Fixture.network(.allowlist, [rule])
        let matcher = EgressMatcher(network)
        func allowed(_ method: String, _ path: String) -> Bool {
            matcher.evaluate(EgressRequest(host: "registry.test", port: 443, method: method, path: path)!).allowed
        }
        #expect(allowed("GET", "/pkg"))
        #expect(allowed("POST", "/o/r.git/git-upload-pack"))
        #expect(allowed("POST", "/-/npm/v1/security/audits/quick"))
        #expect(allowed("POST", "/-/npm/v1/security/advisories/bulk?x=1"))
        #expect(!allowed("POST", "/o/r.git/git-receive-pack"))
        #expect(!allowed("POST", "/-/npm/v1/security/audits/quick/../../publish"))
        #expect(!allowed("PUT", "/pkg"))
        let limited = EgressMatcher(Fixture.network(.allowlist, [try RuleSyntax.parse("registry.test@GET,POST", action: .allow)]))
        #expect(limited.evaluate(EgressRequest(host: "registry.test", port: 443, method: "POST", path: "/x")!).allowed)
    }
}
