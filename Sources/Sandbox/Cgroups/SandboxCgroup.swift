import Glibc
import WardenSystem

/// What the cgroup saw during a run.
public struct CgroupStats: Sendable, Equatable {
    public var peakMemoryBytes: UInt64?
    public var oomKills: UInt64 = 0
    public var pidsLimitHits: UInt64 = 0
}

/// The cgroup(s) of one sandbox, under Warden's own subtree (`warden/slot-N`), never at a
/// hierarchy's root. One directory per id slot: a run that crashed leaves at most that empty
/// directory behind, and the next run of the slot replaces it.
public final class SandboxCgroup {
    public let hierarchy: CgroupHierarchy
    /// Directories of this sandbox (one per v1 controller, or the single v2 directory).
    public let directories: [String: String]
    public let limits: ResourceLimits

    public static let subtree = "warden"

    private init(hierarchy: CgroupHierarchy, directories: [String: String], limits: ResourceLimits) {
        self.hierarchy = hierarchy
        self.directories = directories
        self.limits = limits
    }

    public var displayPath: String {
        directories["memory"] ?? directories["unified"] ?? directories.values.sorted().first ?? ""
    }

    /// Creates the sandbox's cgroup and writes its limits.
    public static func create(hierarchy: CgroupHierarchy, name: String, limits: ResourceLimits) throws(SandboxError) -> SandboxCgroup {
        var directories: [String: String] = [:]
        do throws(SystemError) {
            switch hierarchy {
            case .unavailable(let reason):
                throw SystemError(errno: ENOTSUP, step: reason)
            case .v1(let controllers):
                for controller in ["memory", "pids", "cpu", "freezer"] {
                    guard let mount = controllers[controller] else {
                        if controller == "memory" || controller == "pids" {
                            throw SystemError(errno: ENOENT, step: "cgroup v1 \(controller) hierarchy")
                        }
                        continue
                    }
                    let parent = mount + "/" + subtree
                    try ensureDirectory(parent)
                    let path = parent + "/" + name
                    try recreate(path, hierarchy: hierarchy)
                    directories[controller] = path
                }
                let memory = directories["memory"]!
                try Files.writeControl(memory + "/memory.limit_in_bytes", String(limits.memoryBytes))
                if Files.exists(memory + "/memory.memsw.limit_in_bytes") {
                    try Files.writeControl(memory + "/memory.memsw.limit_in_bytes", String(limits.memoryBytes))
                }
                try Files.writeControl(directories["pids"]! + "/pids.max", String(limits.pids))
                if let cpus = limits.cpus, let cpu = directories["cpu"] {
                    try Files.writeControl(cpu + "/cpu.cfs_period_us", "100000")
                    try Files.writeControl(cpu + "/cpu.cfs_quota_us", String(max(1000, Int(cpus * 100_000))))
                }
            case .v2(let root):
                try enableControllers(at: root)
                let parent = root + "/" + subtree
                try ensureDirectory(parent)
                try enableControllers(at: parent)
                let path = parent + "/" + name
                try recreate(path, hierarchy: hierarchy)
                directories["unified"] = path
                try Files.writeControl(path + "/memory.max", String(limits.memoryBytes))
                if Files.exists(path + "/memory.swap.max") { try Files.writeControl(path + "/memory.swap.max", "0") }
                try Files.writeControl(path + "/pids.max", String(limits.pids))
                if let cpus = limits.cpus {
                    try Files.writeControl(path + "/cpu.max", "\(max(1000, Int(cpus * 100_000))) 100000")
                }
            }
        } catch {
            throw SandboxError(.layerUnavailable, "cgroups: \(error.description)", cause: error)
        }
        return SandboxCgroup(hierarchy: hierarchy, directories: directories, limits: limits)
    }

    /// The cgroup v2 directory, for creating the sandbox directly inside it (CLONE_INTO_CGROUP).
    public func directoryForClone() -> FileDescriptor? {
        guard case .v2 = hierarchy, let path = directories["unified"] else { return nil }
        return try? FileDescriptor.open(path, 0o10000000 /* O_PATH */ | O_DIRECTORY)
    }

    /// Where the calling thread was before `enterCallingThread()`, to go back there.
    public struct ThreadPlacement: Sendable {
        let tasksFiles: [String]

        init(tasksFiles: some Sequence<String>) {
            self.tasksFiles = Array(tasksFiles)
        }

        /// Moves the calling thread back (writing 0: itself, to the original `tasks` files).
        public func restore() throws(SandboxError) {
            for path in tasksFiles {
                do { try Files.writeControl(path, "0") } catch {
                    throw SandboxError(.setupFailed, "cgroups: return to \(path): \(error.reason)", cause: error)
                }
            }
        }
    }

    /// cgroup v1: moves the calling thread (only it) into this cgroup, so that a process it
    /// clones is born there.
    ///
    /// Why a thread and not the sandbox's process: moving a process (cgroup.procs) takes the
    /// kernel's global threadgroup lock, whose write side waits for an RCU grace period — 10 to
    /// 20 ms here, more than a whole bubblewrap launch. A thread moving itself (writing 0 to
    /// `tasks`) skips that lock. The caller moves back right after the clone.
    public func enterCallingThread() throws(SandboxError) -> ThreadPlacement {
        guard case .v1(let controllers) = hierarchy else { return ThreadPlacement(tasksFiles: []) }
        var current: [String: String] = [:]  // controller -> this thread's cgroup path
        LineFields((try? Files.read("/proc/thread-self/cgroup")) ?? []).forEachLine(separator: UInt8(ascii: ":")) { fields in
            guard fields.count == 3 else { return true }
            for controller in directories.keys where LineFields.listContains(fields[1], controller) {
                current[controller] = LineFields.string(fields[2])
            }
            return true
        }
        var originals: [String] = []
        for (controller, directory) in directories.sorted(by: { $0.key < $1.key }) {
            guard let mount = controllers[controller] else { continue }
            guard let path = current[controller] else {
                throw SandboxError(.setupFailed, "cgroups: cannot find this thread's \(controller) cgroup")
            }
            originals.append(mount + (path == "/" ? "" : path) + "/tasks")
            do { try Files.writeControl(directory + "/tasks", "0") } catch {
                try? ThreadPlacement(tasksFiles: originals.dropLast()).restore()
                throw SandboxError(.setupFailed, "cgroups: enter \(directory): \(error.reason)", cause: error)
            }
        }
        return ThreadPlacement(tasksFiles: originals)
    }

    /// Moves a process into every directory of this cgroup.
    public func add(pid: pid_t) throws(SandboxError) {
        for path in directories.values.sorted() {
            do {
                try Files.writeControl(path + "/cgroup.procs", String(pid))
            } catch {
                throw SandboxError(.setupFailed, "cgroups: join \(path): \(error.reason)", cause: error)
            }
        }
    }

    public func stats() -> CgroupStats {
        var stats = CgroupStats()
        switch hierarchy {
        case .v1:
            if let memory = directories["memory"] {
                stats.peakMemoryBytes = readNumber(memory + "/memory.max_usage_in_bytes")
                stats.oomKills = keyed(memory + "/memory.oom_control", "oom_kill") ?? 0
            }
            if let pids = directories["pids"] { stats.pidsLimitHits = keyed(pids + "/pids.events", "max") ?? 0 }
        case .v2:
            if let path = directories["unified"] {
                stats.peakMemoryBytes = readNumber(path + "/memory.peak")
                stats.oomKills = keyed(path + "/memory.events", "oom_kill") ?? 0
                stats.pidsLimitHits = keyed(path + "/pids.events", "max") ?? 0
            }
        case .unavailable:
            break
        }
        return stats
    }

    /// Processes still in the cgroup.
    public var processes: [pid_t] {
        guard let path = directories["memory"] ?? directories["unified"], let text = try? Files.readText(path + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Kills every process in the cgroup: cgroup.kill on v2; freeze, kill, thaw on v1 (R17).
    public func killAll() {
        if processes.isEmpty { return }
        switch hierarchy {
        case .v2:
            if let path = directories["unified"] { try? Files.writeControl(path + "/cgroup.kill", "1") }
        case .v1:
            let freezer = directories["freezer"]
            if let freezer { try? Files.writeControl(freezer + "/freezer.state", "FROZEN") }
            if let memory = directories["memory"], let text = try? Files.readText(memory + "/cgroup.procs") {
                for line in text.split(separator: "\n") { if let pid = Int32(line) { kill(pid, SIGKILL) } }
            }
            if let freezer { try? Files.writeControl(freezer + "/freezer.state", "THAWED") }
        case .unavailable:
            break
        }
    }

    /// Removes the directories (they must be empty; retried briefly while the kernel finishes
    /// tearing down exited tasks).
    public func remove() {
        for path in directories.values {
            for _ in 0..<50 {
                if rmdir(path) == 0 || Glibc.errno == ENOENT { break }
                usleep(2000)
            }
        }
    }

    // MARK: - Helpers

    private static func ensureDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o755) != 0 && Glibc.errno != EEXIST { throw SystemError.current("mkdir(\(path))") }
    }

    /// A slot's directory left by a crashed run is emptied and removed before reuse.
    private static func recreate(_ path: String, hierarchy: CgroupHierarchy) throws(SystemError) {
        if Files.exists(path) {
            if rmdir(path) != 0 {
                let leftover = SandboxCgroup(hierarchy: hierarchy, directories: ["memory": path, "unified": path], limits: ResourceLimits())
                leftover.killAll()
                for _ in 0..<50 where rmdir(path) != 0 { usleep(2000) }
            }
        }
        if mkdir(path, 0o755) != 0 { throw SystemError.current("mkdir(\(path))") }
    }

    private static func enableControllers(at path: String) throws(SystemError) {
        let available = (try? Files.readText(path + "/cgroup.controllers")) ?? ""
        let enabled = (try? Files.readText(path + "/cgroup.subtree_control")) ?? ""
        for controller in ["memory", "pids", "cpu"] {
            guard available.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(controller)) else {
                if controller == "cpu" { continue }
                throw SystemError(errno: ENOTSUP, step: "cgroup v2 controller \(controller) not available at \(path)")
            }
            if !enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring(controller)) {
                try Files.writeControl(path + "/cgroup.subtree_control", "+\(controller)")
            }
        }
    }

    private func readNumber(_ path: String) -> UInt64? {
        guard let text = try? Files.readText(path) else { return nil }
        return UInt64(text.trimmingWhitespace())
    }

    private func keyed(_ path: String, _ key: String) -> UInt64? {
        guard let text = try? Files.readText(path) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 && fields[0] == key { return UInt64(fields[1]) }
        }
        return nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
