import Foundation
import Testing

/// An agent under a guarded network policy, through the real binaries as root, against the
/// test network's hosts: the repository's `egressAllowlist` narrows what the organisation
/// allows (it never widens it here), and what environment.json asks that Warden does not do is
/// said in the agent's history.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AgentNetworkTests {
    let net: TestNetwork
    let agents: AgentFixture

    static let environment = """
        {
          "egressAllowlist": ["allowed.test", "not a pattern!"],
          "egressMode": "allow_all"
        }
        """

    static let program = """
        #!/bin/sh
        for host in allowed.test pypi.test; do
          code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$host/hello"); echo "$host: status $code exit $?"
        done
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "https://allowed.test/secure"); echo "https: status $code"
        python3 -c 'import urllib.request; print("python https:", urllib.request.urlopen("https://allowed.test/py").status)'
        """

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
        agents = try AgentFixture(files: [".cursor/environment.json": Self.environment, "agent.sh": Self.program],
                                  policy: [("network.mode", "allowlist"), ("network.dnsUpstream", net.server),
                                           ("network.tlsTrustedCAs", net.caPath)])
        // The test hosts live in a private range: a cidr rule lets their answers through (R20).
        for host in ["allowed.test", "pypi.test", "\(net.server)/32"] {
            let added = Warden.execute(Warden.adminBinary, ["network", "allow", "add", host, "--home", agents.home])
            #expect(added.status == 0, "\(added.stderr)")
        }
    }

    @Test func theRepositorysEgressAllowlistNarrowsThePolicy() throws {
        guard let id = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(id, seconds: 120) == "finished", "\(agents.history(id))")
        let log = agents.warden(["agent", "logs", id]).stdout
        #expect(log.contains("allowed.test: status 200"), "allowed by the policy and listed by the repository: \(log)")
        #expect(!log.contains("pypi.test: status 200"), "allowed by the policy but not listed by the repository: \(log)")
        let audit = Warden.execute(Warden.binary, ["audit", "--home", agents.home, "--run", id, "--json"])
        let records = (try? JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(records.contains { $0["name"] as? String == "pypi.test" && $0["decision"] as? String == "deny"
                                   && $0["rule"] as? String == "repository.egressAllowlist" }, "\(records)")
        // HTTPS from the agent is inspected by its owner's guard: each request is judged and
        // recorded under the agent's id, and the agent's clients trust its sandbox's CA.
        #expect(log.contains("https: status 200") && log.contains("python https: 200"), "\(log)")
        #expect(records.contains { $0["kind"] as? String == "request" && $0["path"] as? String == "/secure"
                                   && ($0["detail"] as? String ?? "").contains("inside inspected TLS") }, "\(records)")
        let history = agents.history(id)
        #expect(history.contains { $0.contains("egressMode") && $0.contains("allow_all") }, "\(history)")
        #expect(history.contains { $0.contains("egressAllowlist") && $0.contains("not a pattern!") }, "\(history)")
    }
}
