import Glibc
import Store
import WardenSystem

/// The network guard, measured side by side in one run against the same client outside any
/// sandbox: bulk throughput, added latency per new connection, memory with 1,000 connections
/// held open, and audit ingest. The "external" host is the test fixture's network namespace
/// (Tests/EscapeTests/Fixtures/net/testnet.py), created here and torn down at the end; nothing
/// else is dialled.
enum GuardBench {
    struct Summary {
        var throughputRatio = 0.0
        var addedLatencyP50Milliseconds = 0.0
        var heldMemoryMiB = 0.0
        var auditPerSecond = 0.0
    }

    nonisolated(unsafe) static var summary = Summary()

    /// The client, identical inside the sandbox and on the host. Prints one JSON-ish line.
    static let client = """
    import socket, sys, time
    mode, host = sys.argv[1], sys.argv[2]
    if mode == "bulk":
        n = int(sys.argv[3])
        s = socket.create_connection((host, 9000), timeout=30)
        s.sendall(b"%d\\n" % n)
        buf = bytearray(1 << 20)
        total, t0 = 0, time.monotonic()
        while True:
            k = s.recv_into(buf)
            if not k:
                break
            total += k
        print("result %d %.6f" % (total, time.monotonic() - t0))
    elif mode == "seq":
        times = []
        request = ("GET /bytes/1 HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" % host).encode()
        for _ in range(int(sys.argv[3])):
            t0 = time.monotonic()
            s = socket.create_connection((host, 80), timeout=10)
            s.sendall(request)
            while s.recv(65536):
                pass
            s.close()
            times.append(time.monotonic() - t0)
        times.sort()
        print("result %.6f %.6f" % (times[len(times) // 2], times[int(len(times) * 0.9)]))
    elif mode == "hold":
        print("ready", flush=True)
        time.sleep(0.5)
        socks = []
        for _ in range(int(sys.argv[3])):
            s = socket.create_connection((host, 9001), timeout=10)
            s.sendall(b"\\0hold")
            socks.append(s)
        print("holding %d" % len(socks), flush=True)
        time.sleep(2)
        print("result %d" % len(socks))
    """

    static func run(warden: String, testnet: String) {
        print("\nNetwork guard, side by side with the same client outside any sandbox (test host in a test network namespace)")
        guard let fixture = Fixture.start(testnet) else {
            summary.auditPerSecond = auditIngest()
            return
        }
        defer { fixture.stop() }
        let server = fixture.server
        // The bulk and sink services speak neither HTTP nor TLS: with inspection on, the guard
        // tunnels such streams only to excluded destinations, so this home excludes the host.
        let admin = (warden.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")) + "/warden-admin"
        guard let home = home(admin: admin, [("network.tlsExclude", "\(server)/32")]) else {
            printError("warden-bench: cannot prepare a Warden home; network guard figures skipped")
            return
        }
        defer { _ = system("rm -rf '\(home)'") }
        let guarded = ["/usr/bin/env", "WARDEN_HOME=" + home, warden, "run", "--net", "allowlist", "--allow", "\(server)/32", "--dns-upstream", server,
                       "--pids", "4096", "--", "python3", "-c", client]
        let direct = ["/usr/bin/python3", "-c", client]

        // Bulk: 1 GiB per run, runs interleaved so both see the same host conditions.
        let bytes = 1 << 30, rounds = 3
        var guardedRates: [Double] = [], directRates: [Double] = []
        for _ in 0..<rounds {
            for (argv, into) in [(direct, 0), (guarded, 1)] {
                let fields = result(measure(argv + ["bulk", server, "\(bytes)"], directory: "."))
                guard fields.count == 2, Int(fields[0]) == bytes, fields[1] > 0 else {
                    printError("warden-bench: a bulk transfer did not complete (\(into == 0 ? "direct" : "guarded"))")
                    continue
                }
                let rate = fields[0] / fields[1] / 1e6
                if into == 0 { directRates.append(rate) } else { guardedRates.append(rate) }
            }
        }
        let guardedRate = median(guardedRates), directRate = median(directRates)
        summary.throughputRatio = directRate > 0 ? guardedRate / directRate : 0
        print("  bulk \(bytes >> 30) GiB x \(rounds): direct median \(Int(directRate)) MB/s, through the guard \(Int(guardedRate)) MB/s;"
              + " ratio \(ratio(guardedRate, directRate)) (target >= 0.8)")

        // New connections: 1,000 sequential short HTTP exchanges each way.
        let count = 1_000
        let directSeq = result(measure(direct + ["seq", server, "\(count)"], directory: "."))
        let guardedSeq = result(measure(guarded + ["seq", server, "\(count)"], directory: "."))
        if directSeq.count == 2, guardedSeq.count == 2 {
            let added = (guardedSeq[0] - directSeq[0]) * 1000
            summary.addedLatencyP50Milliseconds = added
            print("  \(count) sequential connections (connect, request, response, close): p50 direct \(ms(directSeq[0])), guarded \(ms(guardedSeq[0]));"
                  + " added p50 \(round3(added)) ms (target < 0.5 ms); p90 direct \(ms(directSeq[1])), guarded \(ms(guardedSeq[1]))")
        } else {
            printError("warden-bench: the sequential connection runs did not complete")
        }

        // 1,000 connections held open through one guard: the supervisor's resident memory
        // (the guard is a thread of it), before and while they are held.
        let held = holdConnections(guarded + ["hold", server, "1000"])
        summary.heldMemoryMiB = held.during
        print("  1000 connections held open: warden process RSS \(round3(held.before)) MiB before, \(round3(held.during)) MiB while held"
              + " (+\(round3(held.during - held.before)) MiB); target <= 64 MiB")

        summary.auditPerSecond = auditIngest()
        AuditBench.run()
        TLSBench.run(warden: warden, admin: admin, fixture: fixture)
        DetectionBench.run(warden: warden, admin: admin, fixture: fixture)
    }

    /// Only the detection figures, with their own test network.
    static func runDetectionOnly(warden: String, testnet: String) {
        guard let fixture = Fixture.start(testnet) else { return }
        defer { fixture.stop() }
        let admin = (warden.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")) + "/warden-admin"
        DetectionBench.run(warden: warden, admin: admin, fixture: fixture)
    }

    /// `warden run` of a Python client in the allowlist sandbox the TLS and detection benches
    /// share: `host` and the test server allowed, DNS from the test server.
    static func guardedClient(warden: String, home: String, host: String, server: String, client: String) -> [String] {
        ["/usr/bin/env", "WARDEN_HOME=" + home, warden, "run", "--net", "allowlist", "--allow", host, "--allow", "\(server)/32",
         "--dns-upstream", server, "--", "python3", "-c", client]
    }

    /// A fresh Warden home with these policy settings (made with warden-admin); nil on failure.
    static func home(admin: String, _ settings: [(String, String)]) -> String? {
        var template = Array("/tmp/warden-bench-home.XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { return nil }
        let home = String(cString: created)
        for (key, value) in settings {
            guard measure([admin, "set", key, value, "--home", home], directory: ".").status == 0 else {
                _ = system("rm -rf '\(home)'")
                return nil
            }
        }
        return home
    }

    /// Numbers after "result" on the client's last line.
    static func result(_ sample: Sample) -> [Double] {
        guard let line = sample.output.split(separator: "\n").last(where: { $0.hasPrefix("result ") }) else { return [] }
        return line.split(separator: " ").dropFirst().compactMap { Double($0) }
    }

    static func round3(_ value: Double) -> String { "\(Double(Int(value * 1000)) / 1000)" }

    /// Runs the hold client under warden and samples warden's RSS when the client says it is
    /// ready and again while it holds its connections.
    static func holdConnections(_ argv: [String]) -> (before: Double, during: Double) {
        guard let (pid, outputFD) = spawnReadingOutput(argv) else { return (0, 0) }
        var before = 0.0, during = 0.0
        var pending = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(outputFD, &buffer, buffer.count)
            if n <= 0 { break }
            pending += String(decoding: buffer[0..<n], as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline]
                if line == "ready" { before = residentMiB(pid) }
                if line.hasPrefix("holding") {
                    usleep(300_000)
                    during = residentMiB(pid)
                }
                pending = String(pending[pending.index(after: newline)...])
            }
        }
        close(outputFD)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (before, during)
    }

    static func residentMiB(_ pid: pid_t) -> Double {
        guard let text = try? Files.readText("/proc/\(pid)/status"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }

    /// Records through the batched writer into a fresh store (WAL, synchronous=FULL), counted
    /// from the first submit to the last record durable.
    static func auditIngest() -> Double {
        var template = Array("/tmp/warden-bench-audit.XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { return 0 }
        let directory = String(cString: created)
        defer { _ = system("rm -rf '\(directory)'") }
        let path = directory + "/audit.db"
        let count = 200_000
        let writer = AuditWriter(capacity: count + 1, makeStore: { () throws(StoreError) -> any AuditStore in try SQLiteAuditStore(path: path) })
        let start = monotonicNanoseconds()
        for index in 0..<count {
            let record = AuditRecord(time: Int64(index), runID: "bench", owner: 0, kind: .connection, proto: "tcp", address: "10.203.0.2", port: 443,
                                     name: "host-\(index % 100).test", nameSource: "sni", bytesUp: 1_000, bytesDown: 20_000, allowed: true,
                                     rule: "allow:host.test", reason: "rule allow:host.test allows host.test port 443")
            writer.submit(record)
        }
        let failure = writer.close()
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let rate = failure == nil ? Double(writer.written) / seconds : 0
        print("  audit ingest: \(writer.written) records in \(round3(seconds)) s through the batched writer = \(Int(rate)) records/s"
              + " (target >= 50,000)\(failure.map { "; failed: \($0)" } ?? "")")
        return rate
    }

    /// A bench server in the test network namespace; killed by `stop`.
    struct NamespaceServer {
        let pid: pid_t
        let output: Int32

        func stop() {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            close(output)
        }
    }

    /// The test network namespace with its servers (testnet.py), held by a pipe to its stdin:
    /// it stops when the pipe closes, also if the bench dies.
    struct Fixture {
        let pid: pid_t
        let input: Int32
        let subnet: Int
        var server: String { "10.203.\(subnet).2" }
        /// The fixture's directory (named after the bench's own pid) and network namespace.
        var state: String { "/tmp/warden-bench-net-\(getpid())" }
        var netns: String { "wdt-b\(subnet)" }

        static func start(_ script: String) -> Fixture? {
            // Should the fixture die, its addresses must not route out of this machine.
            _ = system("ip route replace blackhole 10.203.0.0/16 2>/dev/null; ip -6 route replace blackhole fd00:203::/32 2>/dev/null")
            let subnet = 200 + Int(getpid()) % 50
            let state = "/tmp/warden-bench-net-\(getpid())"
            mkdir(state, 0o700)
            var pipe: [Int32] = [-1, -1]
            Glibc.pipe(&pipe)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_adddup2(&actions, pipe[0], 0)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addclose(&actions, pipe[1])
            let argv = ["/usr/bin/python3", script, "--name", "b\(subnet)", "--subnet", "\(subnet)", "--state", state, "--ttl", "900"]
            let cArgs = argv.map { strdup($0) } + [nil]
            defer { cArgs.forEach { free($0) } }
            var pid: pid_t = 0
            let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
            posix_spawn_file_actions_destroy(&actions)
            close(pipe[0])
            guard rc == 0 else {
                printError("warden-bench: cannot start \(script): \(errnoDescription(rc)); network guard figures skipped")
                close(pipe[1])
                return nil
            }
            let fixture = Fixture(pid: pid, input: pipe[1], subnet: subnet)
            for _ in 0..<600 {
                if access(state + "/ready.json", R_OK) == 0 { return fixture }
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { break }
                usleep(50_000)
            }
            printError("warden-bench: the test network did not become ready; network guard figures skipped")
            fixture.stop()
            return nil
        }

        /// A Python server (`script` with `arguments`) run in the fixture's namespace; nil if it
        /// cannot start. Given half a second to listen.
        func serve(_ script: String, _ arguments: [String]) -> NamespaceServer? {
            let argv = ["/usr/sbin/ip", "netns", "exec", netns, "/usr/bin/python3", "-c", script] + arguments
            guard let (pid, output) = spawnReadingOutput(argv) else { return nil }
            usleep(500_000)
            return NamespaceServer(pid: pid, output: output)
        }

        func stop() {
            close(input)
            var status: Int32 = 0
            for _ in 0..<400 {
                if waitpid(pid, &status, WNOHANG) != 0 { return }
                usleep(50_000)
            }
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
    }
}
