import Foundation
import Testing

/// TLS inspection (R22), attacked and exercised with real clients inside the real sandbox (as
/// root) against the test network's HTTPS server, whose certificate the test CA signs (the
/// guard trusts it upstream through `network.tlsTrustedCAs`; the clients trust only what the
/// sandbox gives them). Every test checks what the client saw, what the server saw (its own
/// log), and what the audit log says.
@Suite(.serialized, .enabled(if: Warden.isRoot))
struct TLSInspectionTests {
    let net: TestNetwork
    let workspace = Workspace()

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
        workspace.write("ca.pem", (try? String(contentsOfFile: net.caPath, encoding: .utf8)) ?? "")
        for fixture in ["netprobe.py", "cakeysearch.py"] {
            workspace.write(fixture, (try? String(contentsOfFile: Warden.repository + "/Tests/EscapeTests/Fixtures/" + fixture, encoding: .utf8)) ?? "")
        }
    }

    func requests(_ records: [[String: Any]], host: String) -> [[String: Any]] {
        records.filter { $0["kind"] as? String == "request" && $0["name"] as? String == host }
    }

    func serverSaw(since: Int, method: String? = nil, path: String) -> Bool {
        net.log("http.log").dropFirst(since).contains { entry in
            (method == nil || entry["method"] as? String == method) && (entry["path"] as? String ?? "").hasPrefix(path) && entry["scheme"] as? String == "https"
        }
    }

    @Test func curlAndPythonOverHTTPSAreInspectedRequestByRequest() {
        let guarded = GuardedRun(net)
        let script = """
            curl -sS -o /dev/null -w '%{http_code}\\n' 'https://allowed.test/one?token=s3cret'
            python3 -c 'import urllib.request; print(urllib.request.urlopen("https://allowed.test/two").status)'
            python3 -c 'from pip._vendor import requests; print(requests.get("https://allowed.test/three").status_code)'
            """
        let result = guarded.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.split(separator: "\n") == ["200", "200", "200"], "\(result.stdout) \(result.stderr)")
        let log = guarded.audit(run: result.runID)
        let seen = requests(log, host: "allowed.test")
        #expect(seen.map { $0["path"] as? String ?? "" } == ["/one?token=…", "/two", "/three"], "query values redacted: \(seen)")
        #expect(seen.allSatisfy { $0["method"] as? String == "GET" && $0["decision"] as? String == "allow" })
        #expect(seen.allSatisfy { ($0["detail"] as? String ?? "").contains("inside inspected TLS") })
        let connections = log.filter { $0["kind"] as? String == "connection" && $0["name"] as? String == "allowed.test" }
        #expect(connections.count == 3 && connections.allSatisfy { ($0["detail"] as? String ?? "").contains("tls=inspected") }, "\(connections)")
    }

    /// Allow rules that restrict methods: the test host's address (which DNS answers need) read-only too.
    var readOnly: [String] { ["pypi.test@read-only", "git.test@read-only", "\(net.server)/32@read-only"] }

    @Test func aReadOnlyHostTakesGETButNotPOSTOverHTTPS() {
        let guarded = GuardedRun(net, allows: readOnly)
        let before = net.log("http.log").count
        let script = """
            curl -sS -o /dev/null -w '%{http_code}\\n' https://pypi.test/simple/
            curl -sS -D - -o /dev/null -X POST --data-binary 'secret=hunter2' https://pypi.test/ro-upload | tr -d '\\r' | grep -i -e '^HTTP/' -e '^x-warden-block'
            """
        let result = guarded.run([], ["sh", "-c", script], in: workspace)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "200", "\(result.stdout) \(result.stderr)")
        #expect(lines.contains("HTTP/1.1 403 Forbidden"), "\(lines)")
        #expect(lines.contains { $0.lowercased().hasPrefix("x-warden-block: run:allow:pypi.test") }, "the read-only rule refused it: \(lines)")
        #expect(serverSaw(since: before, method: "GET", path: "/simple/"))
        #expect(!serverSaw(since: before, method: "POST", path: "/ro-upload"), "the refused POST reached the server")
        let refused = requests(guarded.audit(run: result.runID), host: "pypi.test").first { $0["decision"] as? String == "deny" }
        #expect(refused?["method"] as? String == "POST" && refused?["path"] as? String == "/ro-upload", "\(String(describing: refused))")
    }

    @Test func gitCloneAndFetchPassOnAReadOnlyHostWhilePushIsRefused() {
        let guarded = GuardedRun(net, allows: readOnly)
        let before = net.log("http.log").count
        let script = """
            set -e
            git -c http.proxy= clone -q https://git.test/git/demo.git /tmp/demo
            cd /tmp/demo
            git -c http.proxy= fetch -q origin
            cat README.md
            git -c user.name=a -c user.email=a@a commit -q --allow-empty -m push-attempt
            if git -c http.proxy= push -q origin HEAD:main 2>/tmp/push.err; then echo PUSHED; else echo PUSH-REFUSED; fi
            cat /tmp/push.err >&2
            """
        let result = guarded.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("hello from the test host"), "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("PUSH-REFUSED"), "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("X-Warden-Block") || result.stderr.contains("403"), "git reports the guard's refusal: \(result.stderr)")
        #expect(serverSaw(since: before, method: "GET", path: "/git/demo.git/info/refs?service=git-receive-pack"), "the push got as far as asking for the refs")
        #expect(serverSaw(since: before, method: "POST", path: "/git/demo.git/git-upload-pack"))
        #expect(!serverSaw(since: before, method: "POST", path: "/git/demo.git/git-receive-pack"), "the push reached the server")
        let log = requests(guarded.audit(run: result.runID), host: "git.test")
        #expect(log.contains { $0["method"] as? String == "POST" && ($0["path"] as? String ?? "").hasSuffix("git-upload-pack") && $0["decision"] as? String == "allow" })
        #expect(log.contains { $0["method"] as? String == "POST" && ($0["path"] as? String ?? "").hasSuffix("git-receive-pack") && $0["decision"] as? String == "deny" }, "\(log)")
    }

    @Test func http2RequestsAreJudgedOneByOneOnTheirStreams() {
        let guarded = GuardedRun(net, allows: ["allowed.test@read-only", "pypi.test", "\(net.server)/32@read-only"])
        let before = net.log("http.log").count
        let script = """
            curl -sS --http2 -o /dev/null -o /dev/null -w '%{http_version} %{http_code}\\n' https://allowed.test:8443/h2-one https://allowed.test:8443/h2-two
            curl -sS --http2 -D - -o /dev/null -X POST --data-binary 'secret=hunter2' https://allowed.test:8443/h2-post | tr -d '\\r' | grep -i -e '^HTTP/' -e '^x-warden-block'
            curl -sS --http2 -o /dev/null -w '%{http_version} %{http_code}\\n' -H 'Host: pypi.test' https://allowed.test:8443/h2-fronted
            """
        let result = guarded.run([], ["sh", "-c", script], in: workspace)
        let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.prefix(2) == ["2 200", "2 200"], "both GETs over HTTP/2 on one connection: \(result.stdout) \(result.stderr)")
        #expect(lines.contains("HTTP/2 403"), "\(lines)")
        #expect(lines.contains { $0.lowercased().hasPrefix("x-warden-block: run:allow:allowed.test") }, "\(lines)")
        #expect(lines.last == "2 403", "an :authority other than the server name: \(lines)")
        let seen = net.log("http.log").dropFirst(before).filter { $0["protocol"] as? String == "h2" }.compactMap { $0["path"] as? String }
        #expect(seen == ["/h2-one", "/h2-two"], "only the allowed requests reached the server: \(seen)")
        let log = requests(guarded.audit(run: result.runID), host: "allowed.test") + requests(guarded.audit(run: result.runID), host: "pypi.test")
        #expect(log.contains { $0["path"] as? String == "/h2-two" && ($0["detail"] as? String ?? "") == "request 2 on the connection (inside inspected TLS, HTTP/2)" }, "\(log)")
        #expect(log.contains { $0["method"] as? String == "POST" && $0["path"] as? String == "/h2-post" && $0["decision"] as? String == "deny" })
        #expect(log.contains { $0["path"] as? String == "/h2-fronted" && $0["rule"] as? String == "tls.host-mismatch" })
    }

    @Test func pipInstallsOverHTTPSThroughTheGuard() {
        let guarded = GuardedRun(net)
        let result = guarded.run([], ["sh", "-c", "python3 -m pip install -q --no-cache-dir --target /tmp/site --index-url https://pypi.test/simple/ wardendemo && PYTHONPATH=/tmp/site python3 -c 'import wardendemo; print(wardendemo.VALUE)'"],
                                 in: workspace, timeout: 120)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "42", "\(result.stdout) \(result.stderr)")
        #expect(requests(guarded.audit(run: result.runID), host: "pypi.test").contains { ($0["path"] as? String ?? "").hasPrefix("/packages/wardendemo") })
    }

    @Test func aHostHeaderOtherThanTheServerNameIsRefused() {
        let guarded = GuardedRun(net)
        let before = net.log("http.log").count
        // Both names are allowed: the request still may not name another host than its TLS.
        let result = guarded.run([], ["curl", "-sS", "-H", "Host: pypi.test", "-o", "/dev/null", "-w", "%{http_code}", "https://allowed.test/fronted"], in: workspace)
        #expect(result.stdout == "403", "\(result.stdout) \(result.stderr)")
        #expect(!serverSaw(since: before, path: "/fronted"))
        #expect(guarded.audit(run: result.runID).contains { $0["kind"] as? String == "request" && $0["rule"] as? String == "tls.host-mismatch" })
    }

    @Test func anExcludedHostIsTunnelledAndRecordedAsSuch() {
        let guarded = GuardedRun(net, settings: [("network.tlsExclude", "other.test")])
        // The client pins the real server's CA: only an untouched tunnel can satisfy it.
        let result = guarded.run(["--allow", "other.test", "--allow", "\(net.other)/32"], ["curl", "-sS", "--cacert", "ca.pem", "-o", "/dev/null", "-w", "%{http_code}", "https://other.test/pinned"],
                                 in: workspace)
        #expect(result.stdout == "200", "\(result.stdout) \(result.stderr)")
        let log = guarded.audit(run: result.runID)
        let connection = log.first { $0["kind"] as? String == "connection" && $0["name"] as? String == "other.test" }
        #expect(connection?["decision"] as? String == "allow")
        #expect((connection?["detail"] as? String ?? "").contains("tls=excluded"), "\(String(describing: connection))")
        #expect(requests(log, host: "other.test").isEmpty, "an excluded host's requests are not read")
    }

    @Test func anOpaqueStreamToAHostNotExcludedIsRefusedInAllowlistMode() {
        let probe = "import socket,sys\ntry:\n s=socket.create_connection((sys.argv[1],9000),timeout=5); s.sendall(b'1000\\n'); n=0\n while True:\n  d=s.recv(65536)\n  if not d: break\n  n+=len(d)\n print(n)\nexcept OSError as e: print(type(e).__name__)\n"
        workspace.write("opaque.py", probe)
        let strict = GuardedRun(net)
        let refused = strict.run(["--allow", "other.test", "--allow", "\(net.other)/32"], ["python3", "opaque.py", "other.test"], in: workspace)
        #expect(refused.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "1000", "\(refused.stdout) \(refused.stderr)")
        #expect(strict.audit(run: refused.runID).contains { $0["rule"] as? String == "tls.opaque" && $0["decision"] as? String == "deny" })
        let excluded = GuardedRun(net, settings: [("network.tlsExclude", "other.test")])
        let allowed = excluded.run(["--allow", "other.test", "--allow", "\(net.other)/32"], ["python3", "opaque.py", "other.test"], in: workspace)
        #expect(allowed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1000", "excluded: tunnelled. \(allowed.stdout) \(allowed.stderr)")
    }

    @Test func aClientThatDoesNotTrustTheSandboxCAFailsClosed() {
        let guarded = GuardedRun(net)
        let before = net.log("http.log").count
        // Trusting only the real server's CA, curl meets the sandbox's leaf and stops.
        let result = guarded.run([], ["curl", "-sS", "--cacert", "ca.pem", "https://allowed.test/must-not-arrive"], in: workspace)
        #expect(result.status == 60, "curl refuses the certificate: \(result.status) \(result.stderr)")
        #expect(!serverSaw(since: before, path: "/must-not-arrive"), "no plaintext fallback, nothing sent")
        let connection = guarded.audit(run: result.runID).first { $0["kind"] as? String == "connection" && $0["name"] as? String == "allowed.test" }
        #expect(connection?["rule"] as? String == "tls.client-handshake", "\(String(describing: connection))")
        #expect(connection?["decision"] as? String == "deny")
    }

    @Test func anUpstreamCertificateTheGuardCannotVerifyIsRefusedWithItsReason() {
        // A home whose guard does not trust the test CA: the upstream handshake fails.
        let guarded = GuardedRun(net, settings: [("network.tlsTrustedCAs", "")])
        let before = net.log("http.log").count
        let result = guarded.run([], ["sh", "-c", "curl -sS -D - -o /dev/null https://allowed.test/untrusted | tr -d '\\r' | grep -i -e '^HTTP/' -e '^x-warden-block'"], in: workspace)
        #expect(result.stdout.contains("HTTP/1.1 502"), "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.lowercased().contains("x-warden-block: tls.upstream"), "\(result.stdout)")
        #expect(!serverSaw(since: before, path: "/untrusted"))
    }

    @Test func theCAKeyIsNeitherInTheSandboxNorInTheStore() throws {
        let guarded = GuardedRun(net)
        let result = guarded.run([], ["python3", "cakeysearch.py"], in: workspace, timeout: 120)
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(result.stdout) \(result.stderr)")
        #expect(fields["hits"] as? [String] == [], "the CA's key material is readable in the sandbox: \(fields)")
        #expect((fields["expected"] as? [String] ?? []).contains("/run/warden/tls/warden-ca.pem"), "control: the search finds the certificate: \(fields)")
        #expect((fields["expected"] as? [String] ?? []).contains("/etc/ssl/certs/ca-certificates.crt"), "the system bundle carries the sandbox CA: \(fields)")
        #expect((fields["scanned"] as? Int ?? 0) > 20)
        // The store: every file of this home, after the run.
        let point = try #require((fields["point"] as? String).flatMap(hexBytes))
        var patterns: [Data] = [point, Data((fields["point"] as? String ?? "").utf8), Data((fields["point"] as? String ?? "").uppercased().utf8)]
        for shift in 0..<3 {
            let encoded = Array((Data(repeating: 0, count: shift) + point).base64EncodedString().utf8)
            patterns.append(Data(encoded[4..<(encoded.count - 4)]))
        }
        var searched = 0
        let files = FileManager.default.enumerator(atPath: guarded.home)?.compactMap { $0 as? String } ?? []
        for file in files {
            guard let data = FileManager.default.contents(atPath: guarded.home + "/" + file) else { continue }
            searched += 1
            let flat = Data(data.filter { $0 != 0x0A && $0 != 0x0D })
            #expect(!patterns.contains { data.range(of: $0) != nil || flat.range(of: $0) != nil }, "\(file) holds the CA's key material")
        }
        #expect(searched > 0, "the store was searched")
    }

    private func hexBytes(_ text: String) -> Data? {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes.count == 65 ? Data(bytes) : nil
    }
}
