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
    let files: any CgroupFileSystem
    /// Limits that could not be made complete (recorded in the manifest).
    public private(set) var warnings: [String] = []

    public static let subtree = "warden"
    /// v1 controllers a sandbox joins; memory and pids are required.
    static let v1Controllers = ["memory", "pids", "cpu", "freezer"]

    private init(hierarchy: CgroupHierarchy, directories: [String: String], limits: ResourceLimits, files: any CgroupFileSystem) {
        self.hierarchy = hierarchy
        self.directories = directories
        self.limits = limits
        self.files = files
    }

    public var displayPath: String {
        directories["memory"] ?? directories["unified"] ?? directories.values.sorted().first ?? ""
    }

    /// Creates the sandbox's cgroup and writes its limits.
    public static func create(hierarchy: CgroupHierarchy, name: String, limits: ResourceLimits,
                              files: any CgroupFileSystem = KernelCgroupFileSystem()) throws(SandboxError) -> SandboxCgroup {
        var directories: [String: String] = [:]
        do throws(SystemError) {
            switch hierarchy {
            case .unavailable(let reason):
                throw SystemError(errno: ENOTSUP, step: reason)
            case .v1(let controllers):
                for controller in v1Controllers {
                    guard let mount = controllers[controller] else {
                        if controller == "memory" || controller == "pids" {
                            throw SystemError(errno: ENOENT, step: "cgroup v1 \(controller) hierarchy")
                        }
                        continue
                    }
                    let parent = mount + "/" + subtree
                    try ensureDirectory(parent, files)
                    let path = parent + "/" + name
                    try recreate(path, hierarchy: hierarchy, files: files)
                    directories[controller] = path
                }
                if let memory = directories["memory"] {
                    try files.write(memory + "/memory.limit_in_bytes", String(limits.memoryBytes))
                    // With swap accounting, memory+swap gets the same limit: no escape into swap.
                    if files.exists(memory + "/memory.memsw.limit_in_bytes") {
                        try files.write(memory + "/memory.memsw.limit_in_bytes", String(limits.memoryBytes))
                    }
                }
                if let pids = directories["pids"] { try files.write(pids + "/pids.max", String(limits.pids)) }
                if let cpus = limits.cpus {
                    // A requested CPU limit must hold: without the controller the layer is missing.
                    guard let cpu = directories["cpu"] else { throw SystemError(errno: ENOTSUP, step: "cgroup v1 cpu hierarchy (needed by --cpus)") }
                    try files.write(cpu + "/cpu.cfs_period_us", "100000")
                    try files.write(cpu + "/cpu.cfs_quota_us", String(Self.quota(cpus)))
                }
            case .v2(let root):
                try enableControllers(at: root, files, needCPU: limits.cpus != nil)
                let parent = root + "/" + subtree
                try ensureDirectory(parent, files)
                try enableControllers(at: parent, files, needCPU: limits.cpus != nil)
                let path = parent + "/" + name
                try recreate(path, hierarchy: hierarchy, files: files)
                directories["unified"] = path
                try files.write(path + "/memory.max", String(limits.memoryBytes))
                if files.exists(path + "/memory.swap.max") { try files.write(path + "/memory.swap.max", "0") }
                try files.write(path + "/pids.max", String(limits.pids))
                if let cpus = limits.cpus { try files.write(path + "/cpu.max", "\(Self.quota(cpus)) 100000") }
            }
        } catch {
            throw SandboxError(.layerUnavailable, "cgroups: \(error.description)", cause: error)
        }
        let cgroup = SandboxCgroup(hierarchy: hierarchy, directories: directories, limits: limits, files: files)
        // Without swap accounting, memory past the limit can go to swap instead of being refused.
        let swapLimited = directories["memory"].map { files.exists($0 + "/memory.memsw.limit_in_bytes") }
            ?? directories["unified"].map { files.exists($0 + "/memory.swap.max") } ?? true
        if !swapLimited && Self.swapConfigured(files) {
            cgroup.warnings.append("swap is configured but the kernel does not account it per cgroup: the memory limit does not cover swap (enable swapaccount=1 or cgroup v2)")
        }
        return cgroup
    }

    static func swapConfigured(_ files: any CgroupFileSystem) -> Bool {
        var total: UInt64 = 0
        LineFields(files.read("/proc/meminfo") ?? []).forEachLine(separator: UInt8(ascii: " ")) { fields in
            let words = fields.filter { !$0.isEmpty }
            if words.count >= 2, LineFields.string(words[0]) == "SwapTotal:" { total = LineFields.number(words[1]) ?? 0 }
            return total == 0
        }
        return total > 0
    }

    /// CPU time per 100 ms period for a fraction of CPUs (at least 1 ms).
    static func quota(_ cpus: Double) -> Int { max(1000, Int(cpus * 100_000)) }

    /// The cgroup v2 directory, for creating the sandbox directly inside it (CLONE_INTO_CGROUP).
    public func directoryForClone() -> FileDescriptor? {
        guard case .v2 = hierarchy, let path = directories["unified"] else { return nil }
        return try? FileDescriptor.open(path, openPathOnly | O_DIRECTORY)
    }

    /// Where the calling thread was before `enterCallingThread()`, to go back there.
    public struct ThreadPlacement: Sendable {
        let tasksFiles: [String]
        let files: any CgroupFileSystem

        /// Moves the calling thread back (writing 0: itself, to the original `tasks` files).
        public func restore() throws(SandboxError) {
            for path in tasksFiles {
                do { try files.write(path, "0") } catch {
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
        guard case .v1(let controllers) = hierarchy else { return ThreadPlacement(tasksFiles: [], files: files) }
        var current: [String: String] = [:]  // controller -> this thread's cgroup path
        LineFields(files.read("/proc/thread-self/cgroup") ?? []).forEachLine(separator: UInt8(ascii: ":")) { fields in
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
                try? ThreadPlacement(tasksFiles: originals, files: files).restore()
                throw SandboxError(.setupFailed, "cgroups: cannot find this thread's \(controller) cgroup")
            }
            do { try files.write(directory + "/tasks", "0") } catch {
                try? ThreadPlacement(tasksFiles: originals, files: files).restore()
                throw SandboxError(.setupFailed, "cgroups: enter \(directory): \(error.reason)", cause: error)
            }
            originals.append(mount + (path == "/" ? "" : path) + "/tasks")
        }
        return ThreadPlacement(tasksFiles: originals, files: files)
    }

    public func stats() -> CgroupStats {
        var stats = CgroupStats()
        switch hierarchy {
        case .v1:
            if let memory = directories["memory"] {
                stats.peakMemoryBytes = number(memory + "/memory.max_usage_in_bytes")
                stats.oomKills = keyed(memory + "/memory.oom_control", "oom_kill") ?? 0
            }
            if let pids = directories["pids"] { stats.pidsLimitHits = keyed(pids + "/pids.events", "max") ?? 0 }
        case .v2:
            if let path = directories["unified"] {
                stats.peakMemoryBytes = number(path + "/memory.peak")
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
        guard let path = directories["memory"] ?? directories["unified"], let bytes = files.read(path + "/cgroup.procs") else { return [] }
        var pids: [pid_t] = []
        LineFields(bytes).forEachLine(separator: UInt8(ascii: " ")) { fields in
            if let value = fields.first.flatMap(LineFields.number), value <= UInt64(Int32.max) { pids.append(pid_t(value)) }
            return true
        }
        return pids
    }

    /// Kills every process in the cgroup: cgroup.kill on v2; freeze, kill, thaw on v1 (R17).
    public func killAll() {
        let remaining = processes
        if remaining.isEmpty { return }
        switch hierarchy {
        case .v2:
            if let path = directories["unified"] { try? files.write(path + "/cgroup.kill", "1") }
        case .v1:
            // Frozen first, so nothing forks between reading the list and killing it.
            let freezer = directories["freezer"]
            if let freezer { try? files.write(freezer + "/freezer.state", "FROZEN") }
            for pid in processes { files.kill(pid, SIGKILL) }
            if let freezer { try? files.write(freezer + "/freezer.state", "THAWED") }
        case .unavailable:
            break
        }
    }

    /// Removes the directories (they must be empty; retried briefly while the kernel finishes
    /// tearing down exited tasks).
    public func remove() {
        for path in directories.values {
            for _ in 0..<50 {
                if files.removeDirectory(path) { break }
                usleep(2000)
            }
        }
    }

    // MARK: - Helpers

    private static func ensureDirectory(_ path: String, _ files: any CgroupFileSystem) throws(SystemError) {
        if files.exists(path) { return }
        do { try files.makeDirectory(path) } catch where error.errno == EEXIST {}
    }

    /// A slot's directory left by a crashed run is emptied and removed before reuse.
    private static func recreate(_ path: String, hierarchy: CgroupHierarchy, files: any CgroupFileSystem) throws(SystemError) {
        if files.exists(path) && !files.removeDirectory(path) {
            let leftover = SandboxCgroup(hierarchy: hierarchy, directories: ["memory": path, "unified": path],
                                         limits: ResourceLimits(), files: files)
            leftover.killAll()
            for _ in 0..<50 where !files.removeDirectory(path) { usleep(2000) }
        }
        try files.makeDirectory(path)
    }

    private static func enableControllers(at path: String, _ files: any CgroupFileSystem, needCPU: Bool) throws(SystemError) {
        let available = words(files.read(path + "/cgroup.controllers"))
        let enabled = words(files.read(path + "/cgroup.subtree_control"))
        for controller in ["memory", "pids", "cpu"] {
            guard available.contains(controller) else {
                if controller == "cpu" && !needCPU { continue }
                throw SystemError(errno: ENOTSUP, step: "cgroup v2 controller \(controller) not available at \(path)")
            }
            if !enabled.contains(controller) { try files.write(path + "/cgroup.subtree_control", "+\(controller)") }
        }
    }

    private static func words(_ bytes: [UInt8]?) -> Set<String> {
        var result = Set<String>()
        LineFields(bytes ?? []).forEachLine(separator: UInt8(ascii: " ")) { fields in
            for field in fields where !field.isEmpty { result.insert(LineFields.string(field)) }
            return true
        }
        return result
    }

    private func number(_ path: String) -> UInt64? {
        guard let bytes = files.read(path) else { return nil }
        return LineFields.number(ArraySlice(bytes.prefix { $0 != 0x0a && $0 != 0x20 }))
    }

    private func keyed(_ path: String, _ key: String) -> UInt64? {
        guard let bytes = files.read(path) else { return nil }
        var value: UInt64?
        LineFields(bytes).forEachLine(separator: UInt8(ascii: " ")) { fields in
            if fields.count == 2 && LineFields.string(fields[0]) == key {
                value = LineFields.number(fields[1])
                return false
            }
            return true
        }
        return value
    }
}
