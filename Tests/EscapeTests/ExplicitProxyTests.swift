import Foundation
import Testing

/// The explicit proxy (HTTP_PROXY/HTTPS_PROXY, offered in every guarded sandbox): the same
/// decisions as transparent capture, reached by programs that prefer a proxy. Real clients
/// inside the real sandbox (as root); the test hosts are the test network namespace's.
@Suite(.serialized, .enabled(if: Warden.isRoot))
struct ExplicitProxyTests {
    let net: TestNetwork
    let guarded: GuardedRun
    let workspace = Workspace()
    let proxyPort = "3128"

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
        guarded = GuardedRun(net)
        workspace.write("netprobe.py", try String(contentsOfFile: Warden.repository + "/Tests/EscapeTests/Fixtures/netprobe.py", encoding: .utf8))
        workspace.write("ca.pem", (try? String(contentsOfFile: net.caPath, encoding: .utf8)) ?? "")
    }

    func run(_ command: [String], extra: [String] = []) -> (Warden.Result, [[String: Any]]) {
        let result = guarded.run(GuardedRun.viaProxy + extra, command, in: workspace, timeout: 120)
        return (result, guarded.audit(run: result.runID))
    }

    func probe(_ arguments: [String]) -> (Warden.Result, [String: Any], [[String: Any]]) {
        let (result, records) = run(["python3", "netprobe.py"] + arguments)
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let fields = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        return (result, fields, records)
    }

    func first(_ records: [[String: Any]], _ match: ([String: Any]) -> Bool) -> [String: Any]? { records.first(where: match) }

    @Test func theSandboxIsOfferedTheProxy() {
        let (result, _) = run(["sh", "-c", "echo $HTTPS_PROXY $http_proxy"])
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "http://127.0.0.1:3128 http://127.0.0.1:3128", "\(result.stderr)")
    }

    @Test func curlOverHTTPThroughTheProxy() {
        let (result, records) = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://allowed.test/p?token=s3cret"])
        #expect(result.stdout == "200", "\(result.stderr)")
        let request = first(records) { $0["kind"] as? String == "request" && $0["decision"] as? String == "allow" }
        #expect(request?["name"] as? String == "allowed.test", "\(records)")
        #expect(request?["path"] as? String == "/p?token=…")
        #expect(first(records) { $0["kind"] as? String == "dns" && $0["name"] as? String == "allowed.test" && $0["decision"] as? String == "allow" } != nil,
                "the guard resolves the name through the sandbox's resolver path")
        let connection = first(records) { $0["kind"] as? String == "connection" }
        #expect(connection?["address"] as? String == net.server)
        #expect((connection?["detail"] as? String ?? "").contains("via=proxy absolute-form"))
        // The origin server got origin-form, without the proxy's headers.
        let served = net.log("http.log").last
        #expect(served?["path"] as? String == "/p?token=s3cret", "\(String(describing: served))")
    }

    @Test func curlOverHTTPSThroughTheProxy() {
        let (result, records) = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "https://allowed.test/"])
        #expect(result.stdout == "200", "\(result.stderr)")
        let connection = first(records) { $0["kind"] as? String == "connection" && $0["decision"] as? String == "allow" }
        #expect(connection?["nameSource"] as? String == "sni", "\(records)")
        #expect((connection?["detail"] as? String ?? "").contains("via=proxy CONNECT"))
        #expect((connection?["bytesDown"] as? Int ?? 0) > 0)
    }

    @Test func aDeniedNameIsRefusedAndNeverLookedUp() {
        let (plain, plainRecords) = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://denied.test/"])
        #expect(plain.stdout == "403", "\(plain.stderr)")
        #expect(first(plainRecords) { $0["rule"] as? String == "run:deny:denied.test" && $0["kind"] as? String == "request" } != nil, "\(plainRecords)")
        let (tls, tlsRecords) = run(["curl", "-sS", "--cacert", "ca.pem", "https://denied.test/"])
        #expect(tls.status == 56, "curl reports the refused CONNECT: \(tls.stderr)")
        #expect(first(tlsRecords) { $0["method"] as? String == "CONNECT" && $0["decision"] as? String == "deny" } != nil, "\(tlsRecords)")
        #expect(!net.log("dns.log").contains { $0["name"] as? String == "denied.test" }, "a refused name left the machine")
    }

    @Test func theMetadataAddressIsRefusedThroughTheProxy() {
        let (result, records) = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://169.254.169.254/latest/meta-data/"])
        #expect(result.stdout == "403", "\(result.stderr)")
        #expect(first(records) { $0["rule"] as? String == "address-class" && $0["decision"] as? String == "deny" } != nil, "\(records)")
    }

    @Test func aTunnelMustCarryTheServerNameItWasOpenedFor() {
        let (result, fields, records) = probe(["tunnel", proxyPort, "allowed.test:443", "pypi.test", "ca.pem"])
        #expect((fields["connect"] as? [String: Any])?["status"] as? String == "200", "\(result.stdout) \(result.stderr)")
        #expect(fields["result"] as? String != "ok")
        #expect(first(records) { $0["rule"] as? String == "proxy.name-mismatch" } != nil, "\(records)")
    }

    @Test func aForwardingConnectionCannotChangeHost() {
        let before = net.log("http.log").count
        let (result, fields, records) = probe(["proxied", proxyPort, "http://allowed.test/proxy-first", "http://pypi.test/proxy-second"])
        let statuses = fields["results"] as? [Any] ?? []
        #expect((statuses.first as? [String: Any])?["status"] as? String == "200", "\(result.stdout) \(result.stderr)")
        let second = statuses.dropFirst().first as? [String: Any]
        #expect(second?["status"] as? String == "403")
        #expect((second?["block"] as? String ?? "").hasPrefix("proxy.authority-change"))
        // Other suites use the test host at the same time: the refused request's own path is looked for.
        #expect(!net.log("http.log").dropFirst(before).contains { $0["path"] as? String == "/proxy-second" }, "only the first request reached a server")
        #expect(first(records) { $0["rule"] as? String == "proxy.authority-change" } != nil)
    }

    @Test func gitAndPipUseTheProxy() {
        let (git, gitRecords) = run(["git", "clone", "-q", "http://git.test/git/demo.git", "/tmp/demo"])
        #expect(git.status == 0, "\(git.stderr)")
        #expect(gitRecords.contains { ($0["detail"] as? String ?? "").contains("via=proxy") }, "\(gitRecords)")
        let (pip, pipRecords) = run(["python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--target", "/tmp/site", "--index-url",
                                     "http://pypi.test/simple/", "--trusted-host", "pypi.test", "wardendemo"])
        #expect(pip.status == 0, "\(pip.stderr)")
        #expect(pipRecords.contains { ($0["path"] as? String ?? "").hasPrefix("/packages/wardendemo") && ($0["decision"] as? String) == "allow" })
        #expect(pipRecords.contains { ($0["detail"] as? String ?? "").contains("via=proxy") })
    }
}
