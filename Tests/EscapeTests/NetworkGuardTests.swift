import Foundation
import Testing

/// The network guard, attacked with real programs inside the real sandbox (as root): every
/// test asserts the outcome the program saw AND the record in the audit log. "External"
/// hosts are the test network namespace's (Fixtures/net/testnet.py); nothing else is dialled.
@Suite(.serialized, .enabled(if: Warden.isRoot))
struct NetworkGuardTests {
    let net: TestNetwork
    let guarded: GuardedRun
    let workspace = Workspace()

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
        guarded = GuardedRun(net)
        let probe = try String(contentsOfFile: Warden.repository + "/Tests/EscapeTests/Fixtures/netprobe.py", encoding: .utf8)
        workspace.write("netprobe.py", probe)
    }

    func probe(_ arguments: [String], extra: [String] = [], timeout: Double = 60) -> (Warden.Result, [String: Any]) {
        let result = guarded.run(extra, ["python3", "netprobe.py"] + arguments, in: workspace, timeout: timeout)
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let fields = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        return (result, fields)
    }

    func records(_ result: Warden.Result) -> [[String: Any]] {
        guarded.audit(run: result.runID)
    }

    func record(_ records: [[String: Any]], kind: String, name: String? = nil, decision: String? = nil) -> [String: Any]? {
        records.first { r in
            r["kind"] as? String == kind && (name == nil || r["name"] as? String == name) && (decision == nil || r["decision"] as? String == decision)
        }
    }

    @Test func curlToAnAllowedNameWorksAndIsRecorded() {
        let result = guarded.run([], ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://allowed.test/hello?token=s3cret"], in: workspace)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "200")
        let log = records(result)
        #expect(record(log, kind: "dns", name: "allowed.test", decision: "allow") != nil)
        let request = record(log, kind: "request", name: "allowed.test", decision: "allow")
        #expect(request?["method"] as? String == "GET")
        #expect(request?["path"] as? String == "/hello?token=…", "query values are never stored (R25)")
        let connection = record(log, kind: "connection", name: "allowed.test", decision: "allow")
        #expect(connection?["address"] as? String == net.server)
        #expect((connection?["bytesDown"] as? Int ?? 0) > 0)
        #expect((connection?["bytesUp"] as? Int ?? 0) > 0)
    }

    @Test func aDeniedNameGetsRefusedAndIsNeverForwarded() {
        let result = guarded.run([], ["curl", "-sS", "http://denied.test/"], in: workspace)
        #expect(result.status == 6, "curl cannot resolve the name: \(result.stderr)")
        let dns = record(records(result), kind: "dns", name: "denied.test")
        #expect(dns?["decision"] as? String == "deny")
        #expect(dns?["rule"] as? String == "run:deny:denied.test")
        #expect((dns?["detail"] as? String ?? "").contains("REFUSED"))
        #expect(!net.log("dns.log").contains { $0["name"] as? String == "denied.test" }, "the refused query left the machine")
    }

    @Test func httpsIsJudgedByItsServerNameThenRequestByRequest() {
        let result = guarded.run([], ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "https://allowed.test/"], in: workspace)
        #expect(result.stdout == "200", "\(result.stderr)")
        let log = records(result)
        let connection = record(log, kind: "connection", name: "allowed.test")
        #expect(connection?["nameSource"] as? String == "sni")
        #expect(connection?["decision"] as? String == "allow")
        #expect((connection?["detail"] as? String ?? "").contains("tls=inspected"), "\(log)")
        #expect(record(log, kind: "request", name: "allowed.test", decision: "allow")?["method"] as? String == "GET")
    }

    @Test func aNameNotFromThisSandboxsDNSIsRefused() {
        // curl claims allowed.test but dials the other address (domain fronting, R20).
        workspace.write("ca.pem", (try? String(contentsOfFile: net.caPath, encoding: .utf8)) ?? "")
        let result = guarded.run([], ["curl", "-fsS", "--cacert", "ca.pem", "--resolve", "allowed.test:443:\(net.server)",
                                      "--resolve", "allowed.test:80:\(net.other)", "http://allowed.test/"], in: workspace)
        #expect(result.status != 0)
        let refused = records(result).first { $0["rule"] as? String == "dns-binding" }
        #expect(refused?["decision"] as? String == "deny")
        #expect(refused?["address"] as? String == net.other)
    }

    @Test func aProgramThatIgnoresTheProxyIsStillCaptured() {
        let (result, fields) = probe(["requests", "allowed.test", "80", "allowed.test"])
        #expect((fields["results"] as? [[String: Any]])?.first?["status"] as? String == "200", "\(result.stdout) \(result.stderr)")
        #expect(record(records(result), kind: "connection", name: "allowed.test", decision: "allow") != nil)
    }

    @Test func aSecondRequestToARefusedHostOnAKeepAliveConnectionIsRefused() {
        let before = net.log("http.log").count
        let (result, fields) = probe(["requests", "allowed.test", "80", "allowed.test", "denied.test"])
        let statuses = fields["results"] as? [Any] ?? []
        #expect((statuses.first as? [String: Any])?["status"] as? String == "200", "\(result.stdout)")
        let second = statuses.dropFirst().first as? [String: Any]
        #expect(second?["status"] as? String == "403")
        #expect((second?["block"] as? String ?? "").hasPrefix("run:deny:denied.test") || (second?["block"] as? String ?? "").hasPrefix("dns-binding"))
        // Other suites use the test host at the same time: the refused host's requests are counted.
        #expect(!net.log("http.log").dropFirst(before).contains { ($0["host"] as? String ?? "").hasPrefix("denied.test") }, "only the first request reached the server")
        let refused = records(result).filter { $0["kind"] as? String == "request" && $0["decision"] as? String == "deny" }
        #expect(refused.count == 1)
    }

    @Test(arguments: [
        ("smuggling: Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("duplicate Host", "GET / HTTP/1.1\r\nHost: allowed.test\r\nHost: denied.test\r\n\r\n"),
        ("Upgrade: h2c", "GET / HTTP/1.1\r\nHost: allowed.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"),
        ("absolute URI disagreeing with Host", "GET http://denied.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n"),
        ("over-long header", "GET / HTTP/1.1\r\nHost: allowed.test\r\nX-Big: " + String(repeating: "a", count: 40_000) + "\r\n\r\n"),
    ])
    func ambiguousRequestsAreRefused(_ name: String, _ request: String) {
        let hex = request.utf8.map { String(format: "%02x", $0) }.joined()
        let (result, fields) = probe(["raw", "allowed.test", "80", hex])
        let first = (fields["results"] as? [Any])?.first as? [String: Any]
        #expect(first?["status"] as? String == "403", "\(name): \(result.stdout) \(result.stderr)")
        #expect((first?["block"] as? String ?? "").hasPrefix("http.framing"), "\(name)")
        #expect(records(result).contains { $0["kind"] as? String == "request" && $0["rule"] as? String == "http.framing" }, "\(name)")
    }

    @Test func aWebSocketUpgradeIsTakenOnlyAsAConnectionsFirstRequest() {
        // Otherwise bytes of an earlier response could pass for its "101" and open the stream.
        let first = "GET /first HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
        let upgrade = "GET /ws HTTP/1.1\r\nHost: allowed.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let hex = [first, upgrade].map { $0.utf8.map { String(format: "%02x", $0) }.joined() }
        let (result, fields) = probe(["raw", "allowed.test", "80"] + hex)
        let results = fields["results"] as? [Any] ?? []
        #expect((results.first as? [String: Any])?["status"] as? String == "200", "\(result.stdout) \(result.stderr)")
        let second = results.dropFirst().first as? [String: Any]
        #expect(second?["status"] as? String == "403", "\(results)")
        #expect((second?["block"] as? String ?? "").hasPrefix("http.framing"), "\(results)")
    }

    @Test(arguments: [
        ("cloud metadata", "169.254.169.254", "address-class"),
        ("IPv4-mapped metadata", "::ffff:169.254.169.254", "address-class"),
        ("an internal address no rule allows", "10.203.0.3", "address-class"),
    ])
    func refusedAddresses(_ name: String, _ address: String, _ rule: String) {
        let target = address == "10.203.0.3" ? net.other : address
        let (result, fields) = probe(["requests", target, "80", target.contains(":") ? "[\(target)]" : target])
        let first = (fields["results"] as? [Any])?.first as? [String: Any]
        #expect(first?["status"] as? String == "403", "\(name): \(result.stdout) \(result.stderr)")
        let log = records(result)
        #expect(log.contains { $0["decision"] as? String == "deny" && $0["rule"] as? String == rule }, "\(name): \(log)")
    }

    @Test func theHostsOwnAddressIsRefusedEvenWhenARuleAllowsIt() {
        let (result, fields) = probe(["requests", net.hostSide, "80", net.hostSide], extra: ["--allow", "\(net.hostSide)/32"])
        let first = (fields["results"] as? [Any])?.first as? [String: Any]
        #expect(first?["status"] as? String == "403", "\(result.stdout)")
        #expect(records(result).contains { $0["rule"] as? String == "address-class.host" })
    }

    @Test func dnsRebindingIsRefused() {
        let result = guarded.run([], ["curl", "-sS", "http://rebind.test/"], in: workspace)
        #expect(result.status == 6)
        let dns = record(records(result), kind: "dns", name: "rebind.test")
        #expect(dns?["decision"] as? String == "deny")
        #expect(dns?["rule"] as? String == "dns.rebinding")
    }

    @Test func ipv6IsCapturedToo() {
        let result = guarded.run([], ["curl", "-6", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://v6.test/"], in: workspace)
        #expect(result.stdout == "200", "\(result.stderr)")
        let connection = record(records(result), kind: "connection", name: "v6.test")
        #expect(connection?["address"] as? String == net.serverV6)
    }

    // Refused at once (QUIC falls back to TCP) or dropped; each drop is recorded from the
    // firewall's packet log.
    @Test func udpAndQUICGetNowhere() {
        let (quic, quicFields) = probe(["udp", net.server, "443"])
        #expect(quicFields["result"] as? String == "PermissionError", "\(quic.stdout)")
        let quicRecord = records(quic).first { $0["rule"] as? String == "packet.quic" }
        #expect(quicRecord?["address"] as? String == net.server, "\(records(quic))")
        #expect(quicRecord?["port"] as? Int == 443)
        let (udp, udpFields) = probe(["udp", net.server, "9999"])
        #expect(udpFields["result"] as? String == "PermissionError")
        let udpRecord = records(udp).first { $0["rule"] as? String == "packet.dropped" }
        #expect(udpRecord?["proto"] as? String == "udp", "\(records(udp))")
        #expect(udpRecord?["port"] as? Int == 9999)
        #expect(udpRecord?["decision"] as? String == "deny")
    }

    @Test func pingGetsNowhere() {
        let result = guarded.run([], ["ping", "-c", "1", "-W", "1", net.server], in: workspace)
        #expect(result.status != 0)
        let icmp = records(result).first { $0["proto"] as? String == "icmp" }
        #expect(icmp?["address"] as? String == net.server, "\(records(result)) \(result.status) \(result.stderr) \(result.stdout)")
        #expect(icmp?["decision"] as? String == "deny")
    }

    @Test func pythonUrllibToAllowedAndDeniedNamesAndARawAddress() {
        workspace.write("ca.pem", (try? String(contentsOfFile: net.caPath, encoding: .utf8)) ?? "")
        let (plain, plainFields) = probe(["urllib", "http://allowed.test/"])
        #expect(plainFields["status"] as? Int == 200, "\(plain.stdout) \(plain.stderr)")
        #expect(record(records(plain), kind: "request", name: "allowed.test", decision: "allow") != nil)
        // No CA named: Python's default store, which in the sandbox includes its own CA.
        let (tls, tlsFields) = probe(["urllib", "https://allowed.test/"])
        #expect(tlsFields["status"] as? Int == 200, "\(tls.stdout)")
        #expect(records(tls).contains { $0["kind"] as? String == "connection" && $0["nameSource"] as? String == "sni" && $0["decision"] as? String == "allow" })
        let (denied, deniedFields) = probe(["urllib", "https://denied.test/", "ca.pem"])
        #expect(deniedFields["error"] as? String == "gaierror", "the name does not resolve: \(denied.stdout)")
        #expect(record(records(denied), kind: "dns", name: "denied.test", decision: "deny") != nil)
        // A raw address no name produced: allowed by its cidr rule, and flagged as such.
        let (raw, rawFields) = probe(["urllib", "http://\(net.server)/"])
        #expect(rawFields["status"] as? Int == 200, "\(raw.stdout)")
        let connection = record(records(raw), kind: "connection", decision: "allow")
        #expect((connection?["flags"] as? [String] ?? []).contains("raw-ip"), "\(records(raw))")
    }

    @Test func dnsOverTCPGoesUpstreamOverTCP() {
        let (result, fields) = probe(["dnstcp", "allowed.test"])
        #expect(fields["rcode"] as? Int == 0, "\(result.stdout) \(result.stderr)")
        #expect(fields["addresses"] as? [String] == [net.server])
        let query = record(records(result), kind: "dns", name: "allowed.test")
        #expect(query?["proto"] as? String == "tcp")
        #expect(net.log("dns.log").last { $0["name"] as? String == "allowed.test" }?["proto"] as? String == "tcp")
    }

    @Test func manyLargeAnswersOverTCPArriveWholeWhenTheClientReadsLate() {
        // 500 answers of about 10 KB: more than the guard's socket can hold for a late reader.
        let (result, fields) = probe(["dnstcpmany", "big.test", "500"], extra: ["--allow", "big.test"], timeout: 90)
        #expect(fields["answers"] as? Int == 500, "\(result.stdout) \(result.stderr)")
        #expect((fields["sizes"] as? [Int] ?? []).allSatisfy { $0 > 9_000 }, "every answer is the whole record set: \(fields)")
    }

    @Test func rawSocketsAreRefusedCountedAndRecorded() {
        let (raw, rawFields) = probe(["rawsock", "inet"])
        #expect(rawFields["result"] as? String == "PermissionError", "\(raw.stdout) \(raw.stderr)")
        let rawRecord = records(raw).first { $0["rule"] as? String == "socket.refused" }
        #expect(rawRecord?["proto"] as? String == "raw", "\(records(raw))")
        #expect(rawRecord?["decision"] as? String == "deny")
        #expect((rawRecord?["reason"] as? String ?? "").contains("AF_INET SOCK_RAW protocol 1"))
        #expect((raw.manifest?["network"] as? [String: Any])?["socketsRefused"] as? Int == 1)
        let (packet, packetFields) = probe(["rawsock", "packet"])
        #expect(packetFields["result"] as? String == "PermissionError", "\(packet.stdout)")
        #expect(records(packet).contains { $0["rule"] as? String == "socket.refused" && $0["proto"] as? String == "packet" }, "\(records(packet))")
    }

    @Test func aClientHelloWithoutServerNameIsRefused() {
        workspace.write("ca.pem", (try? String(contentsOfFile: net.caPath, encoding: .utf8)) ?? "")
        let (result, fields) = probe(["tls", net.server, "443", "-", "ca.pem"])
        #expect(fields["result"] as? String != "ok", "\(result.stdout)")
        #expect(records(result).contains { $0["rule"] as? String == "tls.no-sni" })
    }

    @Test func fiveHundredConnectionsAtOnce() {
        let (result, fields) = probe(["many", "allowed.test", "80", "500"], timeout: 120)
        #expect(fields["opened"] as? Int == 500, "\(result.stdout) \(result.stderr)")
        #expect(fields["ok"] as? Int == 500)
        #expect((result.manifest?["network"] as? [String: Any])?["connections"] as? Int ?? 0 >= 500)
    }

    @Test func aSlowClientIsCutOff() {
        let (result, fields) = probe(["slowloris", "allowed.test", "80"], timeout: 60)
        #expect((fields["seconds"] as? Double ?? 99) < 20, "\(result.stdout)")
        #expect((fields["result"] as? String ?? "").contains("403") || fields["result"] as? String == "closed" || fields["result"] as? String == "BrokenPipeError")
        #expect(records(result).contains { $0["rule"] as? String == "limits.header-timeout" })
    }

    @Test func gitCloneOverHTTP() {
        let result = guarded.run([], ["git", "-c", "http.proxy=", "clone", "-q", "http://git.test/git/demo.git", "/tmp/demo"], in: workspace)
        #expect(result.status == 0, "\(result.stderr)")
        let requests = records(result).filter { $0["kind"] as? String == "request" && $0["name"] as? String == "git.test" }
        #expect(requests.contains { $0["method"] as? String == "POST" && ($0["path"] as? String ?? "").hasSuffix("git-upload-pack") })
    }

    @Test func pipInstallFromALocalIndex() {
        let result = guarded.run([], ["python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--target", "/tmp/site", "--index-url",
                                      "http://pypi.test/simple/", "--trusted-host", "pypi.test", "wardendemo"], in: workspace, timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(records(result).contains { $0["kind"] as? String == "request" && ($0["path"] as? String ?? "").hasPrefix("/packages/wardendemo") })
    }

    @Test(arguments: [
        ["--net", "bogus"], ["--allow", "bad rule"], ["--allow", "*"], ["--deny", "x.com@GET"], ["--allow", "10.0.0.0/33"],
        ["--dns-upstream", "not-an-address"], ["--allow", "x.test:99999"],
    ])
    func badNetworkOptionsRunNothing(_ options: [String]) {
        let marker = workspace.file("ran-\(UUID().uuidString)")
        let result = Warden.run(options, ["touch", marker], in: workspace, environment: guarded.environment)
        #expect(result.status == 125, "\(options): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func theDNSUpstreamComesFromThePolicyWhenNotGiven() {
        let set = Warden.execute(Warden.adminBinary, ["set", "network.dnsUpstream", net.server, "--home", guarded.home], environment: guarded.environment)
        #expect(set.status == 0, "\(set.stderr)")
        var options = guarded.options
        if let at = options.firstIndex(of: "--dns-upstream") { options.removeSubrange(at...(at + 1)) }
        let result = Warden.run(options, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://allowed.test/"], in: workspace, environment: guarded.environment)
        #expect(result.stdout == "200", "\(result.stderr)")
        #expect(record(records(result), kind: "dns", name: "allowed.test", decision: "allow") != nil)
    }

    @Test func verifyDetectsAHandEditedRecord() throws {
        let result = guarded.run([], ["curl", "-sS", "-o", "/dev/null", "http://allowed.test/"], in: workspace)
        #expect(result.status == 0)
        let intact = Warden.execute(Warden.binary, ["audit", "verify", "--home", guarded.home], environment: guarded.environment)
        #expect(intact.status == 0, "\(intact.stdout) \(intact.stderr)")
        let edit = "import sqlite3; c = sqlite3.connect('\(guarded.home)/audit.db'); c.execute(\"UPDATE audit_records SET name = 'harmless.test' WHERE seq = 2\"); c.commit()"
        _ = Warden.execute("/usr/bin/python3", ["-c", edit])
        let broken = Warden.execute(Warden.binary, ["audit", "verify", "--home", guarded.home], environment: guarded.environment)
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("record 2 "), "\(broken.stderr)")
    }
}
