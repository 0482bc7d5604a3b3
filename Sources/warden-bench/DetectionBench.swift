import Glibc
import WardenSystem

/// Exfiltration detection's cost, measured side by side in one run: the same uploads through
/// two guards that differ only in `detection.enabled`, interleaved. Plain HTTP (detection reads
/// each body through the guard instead of splicing it) and inspected HTTPS (the body is
/// decrypted either way). The body is source-like text, the worst case for the scanners: every
/// byte is in the base64 alphabet's neighbourhood, and the first MiB of each request goes
/// through the credential and entropy rules as well as the planted-value search.
enum DetectionBench {
    struct Summary {
        var plainRatio = 0.0
        var inspectedRatio = 0.0
    }

    nonisolated(unsafe) static var summary = Summary()
    static let plainPort = 8445, tlsPort = 8446

    /// Takes one request per connection: reads the head and Content-Length bytes, answers 200.
    static let server = """
    import socket, ssl, sys, threading
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    def serve(c, tls):
        try:
            t = ctx.wrap_socket(c, server_side=True) if tls else c
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                d = t.recv(65536)
                if not d:
                    return
                data += d
            head, rest = data.split(b"\\r\\n\\r\\n", 1)
            length = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")][0])
            left = length - len(rest)
            buf = bytearray(1 << 20)
            while left > 0:
                k = t.recv_into(buf, min(left, len(buf)))
                if not k:
                    return
                left -= k
            t.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
            t.close()
        except Exception:
            pass
        finally:
            c.close()
    def listen(port, tls):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((sys.argv[3], port))
        ls.listen(64)
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve, args=(c, tls), daemon=True).start()
    threading.Thread(target=listen, args=(8445, False), daemon=True).start()
    listen(8446, True)
    """

    /// `upload http|https HOST PORT BYTES`: one POST of BYTES, seconds from first byte to the answer.
    static let client = """
    import socket, ssl, sys, time
    scheme, host, port, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    words = [b"def", b"return", b"items", b"handler", b"request", b"json", b"status", b"import", b"class", b"self", b"value", b"0x3f", b"(", b")", b":", b"\\n    "]
    chunk = bytearray()
    i = 7
    while len(chunk) < (1 << 20):
        i = (i * 1103515245 + 12345) & 0x7fffffff
        chunk += words[i % len(words)] + b" "
    chunk = bytes(chunk[:1 << 20])
    s = socket.create_connection((host, port), timeout=60)
    if scheme == "https":
        s = ssl.create_default_context().wrap_socket(s, server_hostname=host)
    t0 = time.monotonic()
    s.sendall(b"POST /upload HTTP/1.1\\r\\nHost: %s\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n" % (host.encode(), total))
    sent = 0
    while sent < total:
        k = min(len(chunk), total - sent)
        s.sendall(chunk[:k])
        sent += k
    answer = b""
    while b"\\r\\n\\r\\n" not in answer:
        d = s.recv(4096)
        if not d:
            break
        answer += d
    print("result %d %.6f %s" % (sent, time.monotonic() - t0, answer.split(b" ")[1].decode() if b" " in answer else "none"))
    """

    static func run(warden: String, admin: String, fixture: GuardBench.Fixture) {
        print("\nExfiltration detection: the same uploads through a guard with detection on and one with it off (test host in a test network namespace)")
        let host = "allowed.test", server = fixture.server, state = fixture.state
        let common = [("network.tlsTrustedCAs", state + "/ca.pem")]
        guard let detecting = GuardBench.home(admin: admin, common),
              let plain = GuardBench.home(admin: admin, common + [("detection.enabled", "off")]) else {
            printError("warden-bench: cannot prepare the Warden homes; detection figures skipped")
            return
        }
        defer { _ = system("rm -rf '\(detecting)' '\(plain)'") }
        guard let running = fixture.serve(Self.server, [state + "/tls/server.pem", state + "/tls/server.key", server]) else {
            printError("warden-bench: the upload server did not start; detection figures skipped")
            return
        }
        defer { running.stop() }
        func guarded(_ home: String) -> [String] {
            GuardBench.guardedClient(warden: warden, home: home, host: host, server: server, client: client)
        }
        let bytes = 256 << 20, rounds = 5
        for (scheme, port) in [("http", plainPort), ("https", tlsPort)] {
            var rates: [String: [Double]] = [:]
            for _ in 0..<rounds {
                for (name, home) in [("off", plain), ("on", detecting)] {
                    let sample = measure(guarded(home) + [scheme, host, "\(port)", "\(bytes)"], directory: ".")
                    let fields = GuardBench.result(sample)
                    guard fields.count >= 2, Int(fields[0]) == bytes, fields[1] > 0 else {
                        printError("warden-bench: an upload did not complete (\(scheme), detection \(name))")
                        continue
                    }
                    rates[name, default: []].append(fields[0] / fields[1] / 1e6)
                }
            }
            let on = median(rates["on"] ?? []), off = median(rates["off"] ?? [])
            let cost = off > 0 ? (1 - on / off) * 100 : 0
            if scheme == "http" { summary.plainRatio = off > 0 ? on / off : 0 } else { summary.inspectedRatio = off > 0 ? on / off : 0 }
            print("  \(scheme == "http" ? "plain HTTP" : "inspected HTTPS") upload, \(bytes >> 20) MiB x \(rounds): detection off \(Int(off)) MB/s, on \(Int(on)) MB/s;"
                  + " cost \(GuardBench.round3(cost)) % (target <= 10 %)")
        }
        // Launch: canaries planted, the suffix list checked (parsed on its own thread).
        var launches: [String: [Double]] = [:]
        for _ in 0..<3 {
            for (name, home) in [("off", plain), ("on", detecting)] {
                for _ in 0..<20 {
                    let sample = measure(["/usr/bin/env", "WARDEN_HOME=" + home, warden, "run", "--net", "allowlist", "--dns-upstream", server, "--", "/bin/true"],
                                         directory: ".")
                    if sample.status == 0 { launches[name, default: []].append(sample.seconds) }
                }
            }
        }
        let launchOn = median(launches["on"] ?? []), launchOff = median(launches["off"] ?? [])
        print("  warden run --net allowlist -- /bin/true (3 x 20 interleaved): detection off \(ms(launchOff)), on \(ms(launchOn)); added \(GuardBench.round3((launchOn - launchOff) * 1000)) ms")
    }
}
