import CWardenShim
import Glibc
import WardenSystem

/// Which cgroup hierarchy this machine uses, detected at run time: cgroup v2 mounted at
/// /sys/fs/cgroup (modern distributions), or v1 controllers each mounted on their own
/// hierarchy (this project's build machines, where cgroup2 at /sys/fs/cgroup/unified has no
/// controllers and cannot limit anything).
public enum CgroupHierarchy: Sendable, Equatable {
    case v1(controllers: [String: String])  // controller -> mount point
    case v2(root: String)
    case unavailable(reason: String)

    public static let v2Magic: Int = 0x6367_7270  // CGROUP2_SUPER_MAGIC

    public static func detect(mountinfo: String? = try? Files.readText("/proc/self/mountinfo")) -> CgroupHierarchy {
        var statistics = statfs()
        if statfs("/sys/fs/cgroup", &statistics) == 0 && Int(statistics.f_type) == v2Magic {
            return .v2(root: "/sys/fs/cgroup")
        }
        guard let mountinfo else { return .unavailable(reason: "cannot read /proc/self/mountinfo") }
        let controllers = parseV1(mountinfo)
        if controllers["memory"] != nil && controllers["pids"] != nil {
            return .v1(controllers: controllers)
        }
        return .unavailable(reason: "no cgroup v2 at /sys/fs/cgroup and no v1 memory and pids hierarchies")
    }

    /// Controller mount points from /proc/self/mountinfo lines of type "cgroup".
    public static func parseV1(_ mountinfo: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", omittingEmptySubsequences: false)
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " "), right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3, right[0] == "cgroup" else { continue }
            let mountPoint = String(left[4])
            for option in right[2].split(separator: ",") {
                let name = String(option)
                if ["memory", "pids", "cpu", "freezer", "cpuacct", "cpuset", "devices", "blkio"].contains(name) {
                    if result[name] == nil { result[name] = mountPoint }
                }
            }
        }
        return result
    }

    /// The hierarchy of this machine, detected once per process.
    public static let current: CgroupHierarchy = detect()

    public var version: Int? {
        switch self {
        case .v1: return 1
        case .v2: return 2
        case .unavailable: return nil
        }
    }
}
