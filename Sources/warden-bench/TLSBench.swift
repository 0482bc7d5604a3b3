import Glibc
import WardenSystem

/// TLS inspection, measured side by side in one run: the same HTTPS transfers through a guard
/// that inspects them and through one that tunnels them (the host on the exclusion list), and
/// the same client on the host for reference. The server is a small HTTPS server started in
/// the test network namespace with the fixture's certificate; nothing else is dialled.
enum TLSBench {
    struct Summary {
        var throughputRatio = 0.0
        var addedConnectionP50Milliseconds = 0.0
    }

    nonisolated(unsafe) static var summary = Summary()
    static let port = 8444

    /// The server: one thread per connection; `GET /bytes/N` returns N zero bytes, then closes.
    static let server = """
    import socket, ssl, sys, threading
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((sys.argv[4], int(sys.argv[1])))
    ls.listen(128)
    chunk = bytes(1 << 20)
    def serve(c):
        try:
            t = ctx.wrap_socket(c, server_side=True)
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                d = t.recv(4096)
                if not d:
                    return
                data += d
            path = data.split(b" ")[1].decode()
            n = int(path.rsplit("/", 1)[1]) if path.startswith("/bytes/") else 0
            t.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % n)
            while n > 0:
                k = min(n, len(chunk))
                t.sendall(chunk if k == len(chunk) else bytes(k))
                n -= k
            t.close()
        except Exception:
            pass
        finally:
            c.close()
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    """

    /// The client, identical in every mode: `bulk N` (one GET, bytes and seconds) or `seq N`
    /// (N GETs, each on a new connection: p50 and p90 seconds per connection).
    static let client = """
    import socket, ssl, sys, time
    mode, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    alpn = mode.endswith("-alpn")
    mode = mode.replace("-alpn", "")
    cafile = sys.argv[5] if len(sys.argv) > 5 else None
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(["h2", "http/1.1"])
    def get(path, buf):
        s = socket.create_connection((host, port), timeout=30)
        t = ctx.wrap_socket(s, server_hostname=host)
        t.sendall(("GET %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % (path, host)).encode())
        total = 0
        while True:
            k = t.recv_into(buf)
            if not k:
                break
            total += k
        t.close()
        return total
    buf = bytearray(1 << 20)
    if mode == "bulk":
        t0 = time.monotonic()
        total = get("/bytes/%d" % count, buf)
        print("result %d %.6f" % (total, time.monotonic() - t0))
    else:
        times = []
        for _ in range(count):
            t0 = time.monotonic()
            get("/bytes/5", buf)
            times.append(time.monotonic() - t0)
        times.sort()
        print("result %.6f %.6f" % (times[len(times) // 2], times[int(len(times) * 0.9)]))
    """

    static func run(warden: String, admin: String, fixture: GuardBench.Fixture) {
        print("\nTLS inspection: the same HTTPS client inspected, tunnelled (host excluded), and on the host (test host in a test network namespace)")
        let host = "allowed.test", server = fixture.server
        let state = fixture.state
        guard let inspecting = GuardBench.home(admin: admin, [("network.tlsTrustedCAs", state + "/ca.pem")]),
              let tunnelling = GuardBench.home(admin: admin, [("network.tlsTrustedCAs", state + "/ca.pem"), ("network.tlsExclude", host)]) else {
            printError("warden-bench: cannot prepare the Warden homes; TLS figures skipped")
            return
        }
        defer { _ = system("rm -rf '\(inspecting)' '\(tunnelling)'") }
        guard let running = fixture.serve(Self.server, ["\(port)", state + "/tls/server.pem", state + "/tls/server.key", server]) else {
            printError("warden-bench: the HTTPS server did not start; TLS figures skipped")
            return
        }
        defer { running.stop() }
        func guarded(_ home: String) -> [String] {
            GuardBench.guardedClient(warden: warden, home: home, host: host, server: server, client: client)
        }
        // On the host, the client dials the address and trusts the test CA directly.
        let direct = ["/usr/bin/python3", "-c", client]
        let modes: [(name: String, argv: [String], target: String, ca: [String])] = [
            ("host", direct, server, [state + "/ca.pem"]), ("tunnelled", guarded(tunnelling), host, []), ("inspected", guarded(inspecting), host, []),
        ]

        let bytes = 1 << 30, rounds = 3
        var rates: [String: [Double]] = [:]
        for _ in 0..<rounds {
            for mode in modes {
                let fields = GuardBench.result(measure(mode.argv + ["bulk", mode.name == "host" ? "\(server)" : host, "\(port)", "\(bytes)"] + mode.ca, directory: "."))
                guard fields.count == 2, fields[0] >= Double(bytes), fields[1] > 0 else {
                    printError("warden-bench: an HTTPS bulk transfer did not complete (\(mode.name))")
                    continue
                }
                rates[mode.name, default: []].append(fields[0] / fields[1] / 1e6)
            }
        }
        let onHost = median(rates["host"] ?? []), tunnelled = median(rates["tunnelled"] ?? []), inspected = median(rates["inspected"] ?? [])
        summary.throughputRatio = tunnelled > 0 ? inspected / tunnelled : 0
        print("  bulk HTTPS \(bytes >> 30) GiB x \(rounds): host \(Int(onHost)) MB/s, tunnelled \(Int(tunnelled)) MB/s, inspected \(Int(inspected)) MB/s;"
              + " inspected/tunnelled \(ratio(inspected, tunnelled)) (target >= 0.6)")

        // New connections: 300 sequential HTTPS GETs, each on its own connection; the leaf for
        // the name is minted on the first, so the rest see a warm cache.
        let count = 300
        var p50: [String: Double] = [:]
        for mode in modes {
            let fields = GuardBench.result(measure(mode.argv + ["seq", mode.name == "host" ? "\(server)" : "allowed.test", "\(port)", "\(count)"] + mode.ca, directory: "."))
            guard fields.count == 2 else {
                printError("warden-bench: the sequential HTTPS connections did not complete (\(mode.name))")
                continue
            }
            p50[mode.name] = fields[0]
            print("  \(count) sequential HTTPS connections, \(mode.name): p50 \(ms(fields[0])), p90 \(ms(fields[1]))")
        }
        if let inspectedP50 = p50["inspected"], let tunnelledP50 = p50["tunnelled"] {
            summary.addedConnectionP50Milliseconds = (inspectedP50 - tunnelledP50) * 1000
            print("  added per new HTTPS connection by inspection (handshakes both sides, warm leaf cache): p50 \(GuardBench.round3(summary.addedConnectionP50Milliseconds)) ms (target < 2 ms)")
        }
        // A client that offers h2 (as curl does): its handshake waits for the server's choice.
        var alpnP50: [String: Double] = [:]
        for mode in modes where mode.name != "host" {
            let fields = GuardBench.result(measure(mode.argv + ["seq-alpn", "allowed.test", "\(port)", "\(count)"] + mode.ca, directory: "."))
            if fields.count == 2 { alpnP50[mode.name] = fields[0] }
        }
        if let inspectedP50 = alpnP50["inspected"], let tunnelledP50 = alpnP50["tunnelled"] {
            print("  the same with a client offering h2 and http/1.1 (handshakes in turn): tunnelled p50 \(ms(tunnelledP50)), inspected \(ms(inspectedP50));"
                  + " added p50 \(GuardBench.round3((inspectedP50 - tunnelledP50) * 1000)) ms")
        }
    }
}
