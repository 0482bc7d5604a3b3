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

    public static func detect(mountinfo: [UInt8]? = try? Files.read("/proc/self/mountinfo")) -> CgroupHierarchy {
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

    static let v1Controllers = ["memory", "pids", "cpu", "freezer", "cpuacct", "cpuset", "devices", "blkio"]

    /// Controller mount points from /proc/self/mountinfo lines of type "cgroup":
    /// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS".
    public static func parseV1(_ mountinfo: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        LineFields(mountinfo).forEachLine(separator: UInt8(ascii: " ")) { fields in
            guard let dash = fields.firstIndex(where: { LineFields.equals($0, "-") }), dash >= 5, dash + 3 < fields.count,
                  LineFields.equals(fields[dash + 1], "cgroup") else { return true }
            let mountPoint = LineFields.string(fields[4])
            for controller in v1Controllers where result[controller] == nil && LineFields.listContains(fields[dash + 3], controller) {
                result[controller] = mountPoint
            }
            return true
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
