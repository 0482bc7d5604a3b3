import Glibc
import WardenSystem

/// Empty `warden/slot-N` cgroups left by sandboxes whose launcher was killed outright (SIGKILL
/// leaves no time to remove them; the next run of the slot would replace them). A slot's
/// directories are removed only while this process holds the slot's lock, so no run can be
/// creating them at that moment, and only when empty: rmdir of a cgroup with a process fails.
public enum AbandonedCgroups {
    /// Removes what it can; returns the slots whose cgroups were removed.
    @discardableResult
    public static func sweep(runtimeDirectory: String, hierarchy: CgroupHierarchy = .current,
                             files: any CgroupFileSystem = KernelCgroupFileSystem()) -> [Int] {
        let parents: [String]
        switch hierarchy {
        case .v1(let controllers): parents = SandboxCgroup.v1Controllers.compactMap { controllers[$0] }.map { $0 + "/" + SandboxCgroup.subtree }
        case .v2(let root): parents = [root + "/" + SandboxCgroup.subtree]
        case .unavailable: return []
        }
        var slots = Set<Int>()
        for parent in parents {
            for name in Files.listDirectory(parent) where name.hasPrefix("slot-") {
                if let slot = Int(name.dropFirst(5)), slot >= 0 { slots.insert(slot) }
            }
        }
        var removed: [Int] = []
        for slot in slots.sorted() {
            // The same lock a run holds for its slot's whole life (IdSlot.acquire).
            let fd = open(runtimeDirectory + "/slots/\(slot).lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            var all = true
            for parent in parents { all = files.removeDirectory(parent + "/slot-\(slot)") && all }
            if all { removed.append(slot) }
        }
        return removed
    }
}
