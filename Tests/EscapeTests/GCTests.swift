import Foundation
import Store
import Testing

/// `warden gc` through the real binary: expired ended agents lose their data, recorded; the
/// others keep theirs.
@Suite(.enabled(if: Warden.isRoot))
struct GCTests {
    let home = NSTemporaryDirectory() + "warden-gc-" + UUID().uuidString

    @Test func expiredEndedAgentsAreSweptAndRecorded() throws {
        try FileManager.default.createDirectory(atPath: home + "/agents", withIntermediateDirectories: true)
        _ = Warden.execute(Warden.adminBinary, ["retention", "set", "3d", "--home", home])
        let store = try AgentStore(path: AgentStore.path(home: home))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (id, age) in [("00000000001d", Int64(5)), ("00000000002d", Int64(1))] {
            let ended = now - age * 86_400_000
            try store.create(AgentRecord(id: id, name: "", owner: "alice", ownerUID: 4242, repository: "/r", baseBranch: "main", model: "m",
                                         command: ["a"], privacy: false, policyVersion: 1, created: ended - 10))
            try store.transition(id, to: .preparing, reason: "", at: ended - 5)
            try store.transition(id, to: .running, reason: "", at: ended - 4)
            try store.transition(id, to: .finished, reason: "done", at: ended)
            try FileManager.default.createDirectory(atPath: home + "/agents/\(id)/inbox", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: home + "/workspaces/\(id)/workspace", withIntermediateDirectories: true)
        }
        let dry = Warden.execute(Warden.binary, ["gc", "--home", home, "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("would remove the data of agent 00000000001d"), "\(dry.stdout) \(dry.stderr)")
        #expect(FileManager.default.fileExists(atPath: home + "/agents/00000000001d"))
        let result = Warden.execute(Warden.binary, ["gc", "--home", home])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("removed the data of agent 00000000001d"))
        #expect(result.stdout.contains("kept 00000000002d"))
        #expect(!FileManager.default.fileExists(atPath: home + "/agents/00000000001d"))
        #expect(FileManager.default.fileExists(atPath: home + "/agents/00000000002d"))
        #expect(!FileManager.default.fileExists(atPath: home + "/workspaces/00000000001d"))
        #expect(FileManager.default.fileExists(atPath: home + "/workspaces/00000000002d/workspace"))
        #expect(try store.get("00000000001d")?.dataRemoved == true)
    }

    /// Environment snapshots expire from their last use; a crashed build's leftovers after a day.
    @Test func unusedSnapshotsAndStaleBuildsAreSwept() throws {
        try FileManager.default.createDirectory(atPath: home + "/agents", withIntermediateDirectories: true)
        _ = Warden.execute(Warden.adminBinary, ["retention", "set", "3d", "--home", home])
        _ = try AgentStore(path: AgentStore.path(home: home))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let (old, recent) = (String(repeating: "a", count: 64), String(repeating: "b", count: 64))
        for (key, days) in [(old, Int64(5)), (recent, Int64(1))] {
            let directory = home + "/snapshots/" + key
            try FileManager.default.createDirectory(atPath: directory + "/usr/upper", withIntermediateDirectories: true)
            try #"{"agent":"000000000001","created":0,"idBase":1879048192,"installMilliseconds":1,"key":"\#(key)"}"#
                .write(toFile: directory + "/snapshot.json", atomically: true, encoding: .utf8)
            try String(now - days * 86_400_000).write(toFile: directory + "/last-used", atomically: true, encoding: .utf8)
        }
        let stale = home + "/snapshots/.building-0123456789abcdef"
        try FileManager.default.createDirectory(atPath: stale + "/usr", withIntermediateDirectories: true)
        var times = [timeval(tv_sec: time(nil) - 2 * 86_400, tv_usec: 0), timeval(tv_sec: time(nil) - 2 * 86_400, tv_usec: 0)]
        utimes(stale, &times)

        let result = Warden.execute(Warden.binary, ["gc", "--home", home])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("removed environment snapshot aaaaaaaaaaaa"), "\(result.stdout)")
        #expect(!FileManager.default.fileExists(atPath: home + "/snapshots/" + old))
        #expect(FileManager.default.fileExists(atPath: home + "/snapshots/" + recent + "/usr/upper"), "used a day ago: kept")
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    /// Cgroups a killed launcher left: removed when empty and no run holds the slot; a slot
    /// whose lock is held, or whose cgroup has a process, is left alone.
    @Test func emptyCgroupsOfKilledSandboxesAreRemovedButNotHeldOrBusyOnes() throws {
        let v2 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        let parents = v2 ? ["/sys/fs/cgroup/warden"] : ["/sys/fs/cgroup/memory/warden", "/sys/fs/cgroup/pids/warden"]
        // Slot numbers beyond the default pool (1024), so no real run uses them meanwhile.
        let (free, held, busy) = (9001, 9002, 9003)
        for parent in parents {
            for slot in [free, held, busy] { mkdir(parent, 0o755); mkdir(parent + "/slot-\(slot)", 0o755) }
        }
        mkdir("/run/warden", 0o700)
        mkdir("/run/warden/slots", 0o700)
        // The slot's lock, held the way a run holds it (gc is another process: it cannot take it).
        let lock = open("/run/warden/slots/\(held).lock", O_RDWR | O_CREAT, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer {
            close(lock)
            kill(sleeper.processIdentifier, SIGKILL)
            sleeper.waitUntilExit()
            for parent in parents { for slot in [free, held, busy] { rmdir(parent + "/slot-\(slot)") } }
        }
        let procs = FileHandle(forWritingAtPath: parents[0] + "/slot-\(busy)/cgroup.procs")
        try procs?.write(contentsOf: Data("\(sleeper.processIdentifier)\n".utf8))
        try procs?.close()

        let result = Warden.execute(Warden.binary, ["gc", "--home", home])
        #expect(result.status == 0, "\(result.stderr)")
        for parent in parents {
            #expect(!FileManager.default.fileExists(atPath: parent + "/slot-\(free)"), "an abandoned empty cgroup is removed")
            #expect(FileManager.default.fileExists(atPath: parent + "/slot-\(held)"), "a slot a run holds is left alone")
        }
        #expect(FileManager.default.fileExists(atPath: parents[0] + "/slot-\(busy)"), "a cgroup with a process is never removed")
    }
}
