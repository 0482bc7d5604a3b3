import Foundation
import Store
import Testing
import WardenSystem

/// `warden audit stream` and `warden serve --audit-stream` through the real binaries as root:
/// every record reaches the target once, in order, across restarts (asserted by sequence
/// numbers); a file target rotates at its size; syslog gets RFC 5424 messages; OCSF is offered.
/// The collector is the test network's `/collect`, in its own netns, over HTTPS.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AuditStreamTests {
    let net: TestNetwork

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
    }

    func generate(_ count: Int, label: String, home: String) { Self.generate(net, count, label: label, home: home) }

    /// DNS queries from a guarded `warden run` in `home`: one audit record each (and the run's own).
    static func generate(_ net: TestNetwork, _ count: Int, label: String, home: String) {
        let workspace = Workspace()
        let names = (1...count).map { "\(label)-\($0).allowed.test" }.joined(separator: " ")
        let result = Warden.run(["--net", "allowlist", "--dns-upstream", net.server, "--allow", "allowed.test"],
                                ["/bin/sh", "-c", "for n in \(names); do getent hosts $n >/dev/null; done; exit 0"],
                                in: workspace, environment: ["WARDEN_HOME": home, "PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    func newest(home: String) -> Int { Self.newest(home: home) }

    /// The newest sequence number in the log (as root).
    static func newest(home: String) -> Int {
        let result = Warden.execute(Warden.binary, ["audit", "--home", home, "--json", "--limit", "1"])
        let records = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
        return records.first?["sequence"] as? Int ?? 0
    }

    /// Sequence numbers of JSON lines (`sequence`, or OCSF's `metadata.uid`), in file order.
    static func sequences(_ text: String) -> [Int] {
        text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return -1 }
            if let sequence = object["sequence"] as? Int { return sequence }
            return ((object["metadata"] as? [String: Any])?["uid"] as? String).flatMap(Int.init) ?? -1
        }
    }

    func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    @Test func aCollectorGetsEveryRecordOnceAcrossASupervisorRestart() throws {
        let collected = net.state + "/collect.jsonl"
        FileManager.default.createFile(atPath: collected, contents: nil)
        let supervisor = try SupervisorFixture(admin: [["set", "network.tlsTrustedCAs", net.caPath], ["network", "allow", "add", "\(net.server)/32"]],
                                               serveArguments: ["--audit-stream", "https://\(net.server)/collect"])
        func received() -> [Int] { Self.sequences((try? String(contentsOfFile: collected, encoding: .utf8)) ?? "") }

        generate(30, label: "before", home: supervisor.home)
        var last = newest(home: supervisor.home)
        #expect(last >= 30)
        #expect(waitFor(20) { received().last == last }, "delivered before the restart: \(received().suffix(5)) of \(last); \((try? String(contentsOfFile: supervisor.logPath, encoding: .utf8)) ?? "")")

        // Records written while no supervisor runs are delivered after it comes back.
        supervisor.stop()
        generate(20, label: "while-down", home: supervisor.home)
        try supervisor.startAgain()
        generate(20, label: "after", home: supervisor.home)
        last = newest(home: supervisor.home)
        #expect(waitFor(20) { received().last == last }, "delivered after the restart: \(received().suffix(5)) of \(last)")
        let all = received()
        #expect(all == Array(1...last), "every record exactly once, in order: \(all.count) lines for \(last) records; duplicates \(Dictionary(grouping: all, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(10))")
        supervisor.stop()
    }

    @Test func aCollectorThatIsDownIsRetriedWithBackoffAndMissesNothing() throws {
        let collected = net.state + "/collect.jsonl"
        FileManager.default.createFile(atPath: collected, contents: nil)
        let run = GuardedRun(net)
        #expect(Warden.execute(Warden.adminBinary, ["network", "allow", "add", "\(net.server)/32", "--home", run.home]).status == 0)
        generate(5, label: "retry", home: run.home)
        // The collector answers 503 twice: the stream waits 0.5 s, then 1 s, then delivers.
        let result = Warden.execute(Warden.binary, ["audit", "stream", "--home", run.home, "--once", "--to", "https://\(net.server)/collect?fail=2"])
        let last = newest(home: run.home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("retrying in 500 ms") && result.stderr.contains("retrying in 1000 ms"), "\(result.stderr)")
        #expect(!result.stderr.contains("fail=2"), "the collector's query (it may hold a token) is not printed: \(result.stderr)")
        let received = Self.sequences((try? String(contentsOfFile: collected, encoding: .utf8)) ?? "")
        #expect(received == Array(1...last), "\(received)")
    }

    @Test func retentionPurgesOldRecordsWithAKeyedCheckpointAndTheLogStillVerifies() throws {
        let run = GuardedRun(net)
        // 20 records from 100 days ago (retention.audit is at least a day), written through
        // Warden's own store with its key, then today's records from a real run.
        let old = wallMilliseconds() - 100 * 86_400_000
        let store = try SQLiteAuditStore(path: SQLiteAuditStore.path(home: run.home), key: try AuditKey.load(home: run.home))
        try store.append((1...20).map { AuditRecord(time: old + Int64($0), runID: "old-run", owner: 0, kind: .dns, proto: "udp", name: "old-\($0).test",
                                                    allowed: true, rule: "allow:old.test", reason: "an old query") })
        generate(3, label: "new", home: run.home)
        let dry = Warden.execute(Warden.binary, ["gc", "--home", run.home, "--dry-run"])
        #expect(dry.stdout.contains("would purge 20 audit record(s)"), "\(dry.stdout) \(dry.stderr)")
        let gc = Warden.execute(Warden.binary, ["gc", "--home", run.home])
        #expect(gc.status == 0 && gc.stdout.contains("purged 20 audit record(s) past retention.audit (records 1…20)"), "\(gc.stdout) \(gc.stderr)")
        let verify = Warden.execute(Warden.binary, ["audit", "verify", "--home", run.home])
        #expect(verify.status == 0, "what remains verifies: \(verify.stdout) \(verify.stderr)")
        let listed = Warden.execute(Warden.binary, ["audit", "--home", run.home, "--json"])
        let records = (try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(records.first?["sequence"] as? Int == 21 && !records.contains { $0["runID"] as? String == "old-run" }, "\(records.prefix(1))")
        #expect(records.contains { $0["rule"] as? String == "retention.audit" && ($0["reason"] as? String ?? "").contains("20 audit records older than 90d purged") },
                "the purge is itself recorded: \(records.suffix(2))")
        #expect(Warden.execute(Warden.binary, ["gc", "--home", run.home]).stdout.contains("purged") == false, "nothing more is old enough")
    }

    @Test func aCollectorThePolicyDoesNotAllowIsRefusedAtStart() throws {
        let home = NSTemporaryDirectory() + "warden-stream-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: home) }
        let result = Warden.execute(Warden.binary, ["audit", "stream", "--home", home, "--to", "https://\(net.server)/collect", "--once"])
        #expect(result.status != 0 && result.stderr.contains("not an allowed host"), "\(result.stderr)")
        let bad = Warden.execute(Warden.binary, ["audit", "stream", "--home", home, "--to", "ftp://collector.example/x"])
        #expect(bad.status != 0 && bad.stderr.contains("expected file:PATH"), "\(bad.stderr)")
    }

    @Test func aFileStreamRotatesAtItsSizeAndResumesWithoutRepeating() throws {
        let run = GuardedRun(net)
        let directory = run.home + "/siem"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func stream(_ arguments: [String]) -> Warden.Result {
            Warden.execute(Warden.binary, ["audit", "stream", "--home", run.home, "--once"] + arguments)
        }
        func files() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("audit.jsonl") }
        }
        func delivered() -> [Int] {
            // Oldest first: the highest-numbered rotation holds the oldest lines.
            let ordered = files().sorted { (Int($0.split(separator: ".").last ?? "") ?? 0) > (Int($1.split(separator: ".").last ?? "") ?? 0) }
            return ordered.flatMap { Self.sequences((try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) ?? "") }
        }
        generate(40, label: "first", home: run.home)
        let target = ["--to", "file:\(directory)/audit.jsonl", "--max-size", "4K", "--keep", "100"]
        #expect(stream(target).status == 0)
        var last = newest(home: run.home)
        #expect(delivered() == Array(1...last), "\(delivered())")
        #expect(files().count > 2, "rotated: \(files())")
        let texts = files().map { (try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) ?? "" }.joined()
        #expect(texts.contains("\"rule\":\"audit.stream\""), "the stream's start is itself a record, and delivered")
        for file in files() {
            let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + file)[.size] as? Int) ?? 0
            #expect(size <= 4096, "\(file) is \(size) bytes")
        }
        generate(10, label: "second", home: run.home)
        #expect(stream(target).status == 0)
        last = newest(home: run.home)
        #expect(delivered() == Array(1...last), "resumed after the last record delivered: \(delivered().suffix(12))")

        // OCSF Network Activity, and a short rotation window keeps only the newest files.
        #expect(stream(["--to", "file:\(directory)/ocsf.jsonl", "--format", "ocsf"]).status == 0)
        last = newest(home: run.home)
        let ocsf = (try? String(contentsOfFile: directory + "/ocsf.jsonl", encoding: .utf8)) ?? ""
        let events = ocsf.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.count == last && events.allSatisfy { $0["class_uid"] as? Int == 4001 && $0["category_uid"] as? Int == 4 })
        #expect(events.contains { ($0["dst_endpoint"] as? [String: Any])?["hostname"] as? String == "first-1.allowed.test" }, "\(events.prefix(2))")
    }

    @Test func syslogGetsRFC5424Messages() throws {
        let run = GuardedRun(net)
        generate(3, label: "syslog", home: run.home)
        // Every record so far, and the access record the stream's start writes.
        let last = newest(home: run.home) + 1
        let socket = run.home + "/syslog.sock", received = run.home + "/syslog.txt"
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(20)
            with open(sys.argv[2], "w") as out:
                for _ in range(int(sys.argv[3])):
                    out.write(s.recv(1 << 20).decode() + "\\n"); out.flush()
            """, socket, received, String(last)]
        try listener.run()
        #expect(waitFor(10) { FileManager.default.fileExists(atPath: socket) })
        let result = Warden.execute(Warden.binary, ["audit", "stream", "--home", run.home, "--once", "--to", "syslog:\(socket)"])
        #expect(result.status == 0, "\(result.stderr)")
        listener.waitUntilExit()
        let messages = ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(messages.count == last, "\(messages.count) of \(last)")
        #expect(messages.first?.hasPrefix("<") == true && messages.first?.contains(">1 ") == true, "\(messages.first ?? "")")
        #expect(messages.first?.contains(" warden ") == true && messages.first?.contains("[warden@32473 seq=\"1\"]") == true, "\(messages.first ?? "")")
        #expect(messages.contains { $0.contains("syslog-1.allowed.test") })
    }
}
