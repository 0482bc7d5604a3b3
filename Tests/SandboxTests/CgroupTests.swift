import Glibc
import Synchronization
@testable import Sandbox
import Testing
import WardenSystem

/// An in-memory cgroup file system: directories get the interface files the kernel would create,
/// writes to missing files fail as they do in cgroupfs, and every write is logged.
final class FakeCgroupFileSystem: CgroupFileSystem {
    struct State {
        var directories: Set<String> = []
        var files: [String: String] = [:]
        var writes: [(String, String)] = []
        var killed: [pid_t] = []
    }

    let state = Mutex(State())
    /// Interface files (name -> initial content) of a newly created directory.
    let interface: [String: String]

    init(roots: [String], interface: [String: String], rootFiles: [String: String] = [:]) {
        self.interface = interface
        state.withLock { state in
            for root in roots {
                state.directories.insert(root)
                for (name, content) in interface { state.files[root + "/" + name] = content }
            }
            for (path, content) in rootFiles { state.files[path] = content }
        }
    }

    func makeDirectory(_ path: String) throws(SystemError) {
        let result: Int32 = state.withLock { state in
            if state.directories.contains(path) { return EEXIST }
            let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            guard state.directories.contains(parent) else { return ENOENT }
            state.directories.insert(path)
            for (name, content) in interface { state.files[path + "/" + name] = content }
            return 0
        }
        if result != 0 { throw SystemError(errno: result, step: "mkdir(\(path))") }
    }

    func removeDirectory(_ path: String) -> Bool {
        state.withLock { state in
            guard state.directories.contains(path) else { return true }
            if !(state.files[path + "/cgroup.procs"] ?? "").isEmpty { return false }
            state.directories.remove(path)
            state.files = state.files.filter { !$0.key.hasPrefix(path + "/") }
            return true
        }
    }

    func write(_ path: String, _ value: String) throws(SystemError) {
        let found: Bool = state.withLock { state in
            guard state.files[path] != nil else { return false }
            state.writes.append((path, value))
            if path.hasSuffix("/cgroup.subtree_control") {
                state.files[path, default: ""] += (state.files[path]!.isEmpty ? "" : " ") + value.dropFirst()
            } else if path.hasSuffix("/cgroup.kill") {
                state.files[String(path.dropLast("cgroup.kill".count)) + "cgroup.procs"] = ""
            } else {
                state.files[path] = value
            }
            return true
        }
        if !found { throw SystemError(errno: ENOENT, step: "open(\(path))") }
    }

    func read(_ path: String) -> [UInt8]? {
        state.withLock { $0.files[path].map { Array($0.utf8) } }
    }

    func exists(_ path: String) -> Bool {
        state.withLock { $0.directories.contains(path) || $0.files[path] != nil }
    }

    func kill(_ pid: pid_t, _ signal: Int32) {
        state.withLock { $0.killed.append(pid) }
    }

    var writes: [(String, String)] { state.withLock { $0.writes } }
    func content(_ path: String) -> String? { state.withLock { $0.files[path] } }
    func set(_ path: String, _ value: String) { state.withLock { $0.files[path] = value } }
}

@Suite("cgroups v1 and v2")
struct CgroupTests {
    static let v2Interface = [
        "cgroup.procs": "", "cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "", "cgroup.kill": "",
        "memory.max": "max", "memory.swap.max": "max", "memory.peak": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
        "pids.max": "max", "pids.events": "max 0\n", "cpu.max": "max 100000",
    ]
    static let v1Interface = [
        "cgroup.procs": "", "tasks": "", "memory.limit_in_bytes": "", "memory.memsw.limit_in_bytes": "", "memory.max_usage_in_bytes": "0",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "pids.max": "max", "pids.events": "max 0\n",
        "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "freezer.state": "THAWED",
    ]
    static let v1Mounts = ["memory": "/cg/memory", "pids": "/cg/pids", "cpu": "/cg/cpu,cpuacct", "freezer": "/cg/freezer"]

    static var limits: ResourceLimits {
        var limits = ResourceLimits()
        limits.memoryBytes = 512 << 20
        limits.pids = 64
        limits.cpus = 1.5
        return limits
    }

    @Test("v2: controllers enabled down to Warden's subtree, limits written, never at the root")
    func v2Create() throws {
        let files = FakeCgroupFileSystem(roots: ["/cg"], interface: Self.v2Interface)
        let cgroup = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-3", limits: Self.limits, files: files)
        #expect(cgroup.directories == ["unified": "/cg/warden/slot-3"])
        #expect(files.content("/cg/cgroup.subtree_control") == "memory pids cpu")
        #expect(files.content("/cg/warden/cgroup.subtree_control") == "memory pids cpu")
        #expect(files.content("/cg/warden/slot-3/memory.max") == String(512 << 20))
        #expect(files.content("/cg/warden/slot-3/memory.swap.max") == "0")
        #expect(files.content("/cg/warden/slot-3/pids.max") == "64")
        #expect(files.content("/cg/warden/slot-3/cpu.max") == "150000 100000")
        #expect(!files.writes.contains { $0.0 == "/cg/memory.max" || $0.0 == "/cg/cgroup.procs" })
    }

    @Test("v2 without the memory controller is a missing layer")
    func v2WithoutMemory() {
        var interface = Self.v2Interface
        interface["cgroup.controllers"] = "cpu pids"
        let files = FakeCgroupFileSystem(roots: ["/cg"], interface: interface)
        do {
            _ = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-0", limits: Self.limits, files: files)
            Issue.record("created without a memory controller")
        } catch {
            #expect(error.code == .layerUnavailable)
            #expect(error.message.contains("memory"))
        }
    }

    @Test("v1: one directory per controller, limits in each controller's files")
    func v1Create() throws {
        let files = FakeCgroupFileSystem(roots: Array(Self.v1Mounts.values), interface: Self.v1Interface)
        let cgroup = try SandboxCgroup.create(hierarchy: .v1(controllers: Self.v1Mounts), name: "slot-7", limits: Self.limits, files: files)
        #expect(cgroup.directories["memory"] == "/cg/memory/warden/slot-7")
        #expect(cgroup.directories["cpu"] == "/cg/cpu,cpuacct/warden/slot-7")
        #expect(files.content("/cg/memory/warden/slot-7/memory.limit_in_bytes") == String(512 << 20))
        #expect(files.content("/cg/memory/warden/slot-7/memory.memsw.limit_in_bytes") == String(512 << 20))
        #expect(files.content("/cg/pids/warden/slot-7/pids.max") == "64")
        #expect(files.content("/cg/cpu,cpuacct/warden/slot-7/cpu.cfs_quota_us") == "150000")
    }

    @Test("a slot left behind by a crashed run is emptied and recreated")
    func leftoverSlot() throws {
        let files = FakeCgroupFileSystem(roots: ["/cg"], interface: Self.v2Interface)
        _ = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-1", limits: Self.limits, files: files)
        files.set("/cg/warden/slot-1/cgroup.procs", "4242\n")
        _ = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-1", limits: Self.limits, files: files)
        #expect(files.writes.contains { $0 == ("/cg/warden/slot-1/cgroup.kill", "1") })
        #expect(files.content("/cg/warden/slot-1/pids.max") == "64")
    }

    @Test("stats: OOM kills, pids-limit hits and peak memory on both hierarchies")
    func stats() throws {
        let v2 = FakeCgroupFileSystem(roots: ["/cg"], interface: Self.v2Interface)
        let two = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-2", limits: Self.limits, files: v2)
        v2.set("/cg/warden/slot-2/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
        v2.set("/cg/warden/slot-2/pids.events", "max 17\n")
        v2.set("/cg/warden/slot-2/memory.peak", "123456\n")
        #expect(two.stats() == CgroupStats(peakMemoryBytes: 123_456, oomKills: 1, pidsLimitHits: 17))

        let v1 = FakeCgroupFileSystem(roots: Array(Self.v1Mounts.values), interface: Self.v1Interface)
        let one = try SandboxCgroup.create(hierarchy: .v1(controllers: Self.v1Mounts), name: "slot-2", limits: Self.limits, files: v1)
        v1.set("/cg/memory/warden/slot-2/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
        v1.set("/cg/memory/warden/slot-2/memory.max_usage_in_bytes", "999\n")
        v1.set("/cg/pids/warden/slot-2/pids.events", "max 3\n")
        #expect(one.stats() == CgroupStats(peakMemoryBytes: 999, oomKills: 2, pidsLimitHits: 3))
    }

    @Test("killing: cgroup.kill on v2; freeze, kill each process, thaw on v1")
    func kill() throws {
        let v2 = FakeCgroupFileSystem(roots: ["/cg"], interface: Self.v2Interface)
        let two = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-5", limits: Self.limits, files: v2)
        v2.set("/cg/warden/slot-5/cgroup.procs", "100\n101\n")
        two.killAll()
        #expect(v2.writes.last! == ("/cg/warden/slot-5/cgroup.kill", "1"))

        let v1 = FakeCgroupFileSystem(roots: Array(Self.v1Mounts.values), interface: Self.v1Interface)
        let one = try SandboxCgroup.create(hierarchy: .v1(controllers: Self.v1Mounts), name: "slot-5", limits: Self.limits, files: v1)
        v1.set("/cg/memory/warden/slot-5/cgroup.procs", "200\n201\n")
        one.killAll()
        let freezer = v1.writes.filter { $0.0.hasSuffix("freezer.state") }.map(\.1)
        #expect(freezer == ["FROZEN", "THAWED"])
        #expect(v1.state.withLock { $0.killed } == [200, 201])
    }

    @Test("v1: the launching thread enters every controller and returns to where it was")
    func threadPlacement() throws {
        let files = FakeCgroupFileSystem(roots: Array(Self.v1Mounts.values), interface: Self.v1Interface,
                                         rootFiles: ["/proc/thread-self/cgroup": "9:name=systemd:/\n8:pids:/user.slice\n4:memory:/user.slice\n2:cpu,cpuacct:/\n6:freezer:/\n",
                                                     "/cg/pids/user.slice/tasks": "", "/cg/memory/user.slice/tasks": ""])
        let cgroup = try SandboxCgroup.create(hierarchy: .v1(controllers: Self.v1Mounts), name: "slot-4", limits: Self.limits, files: files)
        let before = files.writes.count
        let placement = try cgroup.enterCallingThread()
        let entered = files.writes[before...].map(\.0)
        #expect(entered.sorted() == cgroup.directories.values.map { $0 + "/tasks" }.sorted())
        #expect(files.writes[before...].allSatisfy { $0.1 == "0" }, "a thread moves itself (0), never a process")
        try placement.restore()
        let returned = files.writes[(before + entered.count)...].map(\.0)
        #expect(Set(returned) == ["/cg/memory/user.slice/tasks", "/cg/pids/user.slice/tasks", "/cg/cpu,cpuacct/tasks", "/cg/freezer/tasks"])
    }

    @Test("a requested CPU limit without a cpu controller is a missing layer, on both hierarchies")
    func cpuWithoutController() {
        var mounts = Self.v1Mounts
        mounts["cpu"] = nil
        let v1 = FakeCgroupFileSystem(roots: Array(mounts.values), interface: Self.v1Interface)
        #expect(throws: SandboxError.self) { try SandboxCgroup.create(hierarchy: .v1(controllers: mounts), name: "s", limits: Self.limits, files: v1) }
        var interface = Self.v2Interface
        interface["cgroup.controllers"] = "memory pids"
        let v2 = FakeCgroupFileSystem(roots: ["/cg"], interface: interface)
        #expect(throws: SandboxError.self) { try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "s", limits: Self.limits, files: v2) }
        var noCPU = Self.limits
        noCPU.cpus = nil
        #expect((try? SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "s", limits: noCPU, files: v2)) != nil)
    }

    @Test("swap that the cgroup cannot account is reported")
    func swapWarning() throws {
        var interface = Self.v1Interface
        interface["memory.memsw.limit_in_bytes"] = nil
        let files = FakeCgroupFileSystem(roots: Array(Self.v1Mounts.values), interface: interface,
                                         rootFiles: ["/proc/meminfo": "MemTotal:       24000000 kB\nSwapTotal:       2097148 kB\n"])
        let cgroup = try SandboxCgroup.create(hierarchy: .v1(controllers: Self.v1Mounts), name: "s", limits: Self.limits, files: files)
        #expect(cgroup.warnings.contains { $0.contains("swap") })
        let noSwap = FakeCgroupFileSystem(roots: Array(Self.v1Mounts.values), interface: interface,
                                          rootFiles: ["/proc/meminfo": "SwapTotal:             0 kB\n"])
        #expect(try SandboxCgroup.create(hierarchy: .v1(controllers: Self.v1Mounts), name: "s", limits: Self.limits, files: noSwap).warnings.isEmpty)
    }

    @Test("v2 needs no thread placement: the sandbox is cloned into the cgroup")
    func v2Placement() throws {
        let files = FakeCgroupFileSystem(roots: ["/cg"], interface: Self.v2Interface)
        let cgroup = try SandboxCgroup.create(hierarchy: .v2(root: "/cg"), name: "slot-6", limits: Self.limits, files: files)
        let before = files.writes.count
        try cgroup.enterCallingThread().restore()
        #expect(files.writes.count == before)
    }
}
