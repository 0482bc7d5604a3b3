import CWardenShim
import Glibc
import WardenSystem

/// Who is who inside the sandbox (R5).
///
/// As root: the sandbox's user namespace maps its ids 0...65535 onto a range of unprivileged
/// host ids that no other running sandbox holds (a "slot"). pid 1 runs as id 0 inside, the
/// workload as the "agent" user 1000. The workspace is an idmapped mount whose user namespace
/// maps the workspace owner's host id to the agent's host id, so files the agent writes belong
/// to the developer on the host, and nothing else of the host maps to anything inside.
///
/// Without root (no permission to map other ids): a single mapping of the caller's id to the
/// agent id; files are the caller's anyway. That is the degraded `identity` layer.
public struct IdentityPlan: Sendable {
    public static let agentID: UInt32 = 1000
    public static let rangeSize: UInt32 = 65536

    public enum Mode: String, Sendable {
        case range
        case singleID = "single-id"
    }

    public let mode: Mode
    /// First host id of the sandbox's range (range mode).
    public let hostBase: UInt32
    public let slot: Int
    public let initUID: UInt32
    public let initGID: UInt32
    /// The host owner of the workspace, who owns what the agent writes there.
    public let workspaceOwnerUID: UInt32
    public let workspaceOwnerGID: UInt32
    public let callerUID: UInt32
    public let callerGID: UInt32

    /// The uid_map / gid_map contents for the sandbox's user namespace.
    public var uidMap: String {
        mode == .range ? "0 \(hostBase) \(Self.rangeSize)\n" : "\(Self.agentID) \(callerUID) 1\n"
    }

    public var gidMap: String {
        mode == .range ? "0 \(hostBase) \(Self.rangeSize)\n" : "\(Self.agentID) \(callerGID) 1\n"
    }

    /// The maps of the idmapped workspace's user namespace: on-disk owner <-> agent host id.
    public var workspaceUIDMap: String { "\(workspaceOwnerUID) \(hostBase + Self.agentID) 1\n" }
    public var workspaceGIDMap: String { "\(workspaceOwnerGID) \(hostBase + Self.agentID) 1\n" }

    public static func range(slot: IdSlot, workspaceOwner: (UInt32, UInt32)) -> IdentityPlan {
        IdentityPlan(mode: .range, hostBase: slot.hostBase, slot: slot.index, initUID: 0, initGID: 0,
                     workspaceOwnerUID: workspaceOwner.0, workspaceOwnerGID: workspaceOwner.1,
                     callerUID: getuid(), callerGID: getgid())
    }

    public static func singleID(workspaceOwner: (UInt32, UInt32)) -> IdentityPlan {
        IdentityPlan(mode: .singleID, hostBase: getuid(), slot: -1, initUID: agentID, initGID: agentID,
                     workspaceOwnerUID: workspaceOwner.0, workspaceOwnerGID: workspaceOwner.1,
                     callerUID: getuid(), callerGID: getgid())
    }

    /// Creates the user namespace used to idmap the workspace (range mode only).
    public func makeWorkspaceUserNamespace() throws(SandboxError) -> FileDescriptor {
        let fd = wd_make_userns(workspaceUIDMap, workspaceGIDMap)
        guard fd >= 0 else { throw SandboxError.setup("create the workspace id-mapping namespace", .current("userns")) }
        return FileDescriptor(fd)
    }
}

/// A held range of host ids. The lock (flock on a file in the runtime directory) is held as long
/// as this object lives; a crashed run releases it with its process.
public final class IdSlot {
    public let index: Int
    public let hostBase: UInt32
    private let lock: FileDescriptor

    init(index: Int, hostBase: UInt32, lock: FileDescriptor) {
        self.index = index
        self.hostBase = hostBase
        self.lock = lock
    }

    /// The pool of host ids: the "warden" entry of /etc/subuid and /etc/subgid when present
    /// (so admins allocate it where they allocate every subordinate range), else a default.
    public struct Pool: Sendable, Equatable {
        public var base: UInt32
        public var slots: Int

        public static let fallback = Pool(base: 0x7000_0000, slots: 1024)

        public static func configured() -> Pool {
            guard let uid = subordinateRange(file: "/etc/subuid"), let gid = subordinateRange(file: "/etc/subgid"),
                  uid == gid else { return .fallback }
            return uid
        }

        static func subordinateRange(file: String) -> Pool? {
            guard let text = try? Files.readText(file, limit: 1 << 20) else { return nil }
            return parse(text)
        }

        public static func parse(_ text: String) -> Pool? {
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: ":")
                guard fields.count == 3, fields[0] == "warden", let start = UInt32(fields[1]), let count = UInt32(fields[2]),
                      start > 0, count >= IdentityPlan.rangeSize else { continue }
                return Pool(base: start, slots: Int(count / IdentityPlan.rangeSize))
            }
            return nil
        }
    }

    /// Takes a free slot: tries each lock file once, starting at a random slot.
    public static func acquire(pool: Pool, runtimeDirectory: String) throws(SandboxError) -> IdSlot {
        let directory = runtimeDirectory + "/slots"
        try WardenPaths.ensurePrivateDirectory(runtimeDirectory)
        try WardenPaths.ensurePrivateDirectory(directory)
        let random = Host.randomBytes(4).reduce(0) { $0 << 8 | Int($1) }
        for attempt in 0..<pool.slots {
            let index = (random + attempt) % pool.slots
            let fd = open(directory + "/\(index).lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw SandboxError.setup("open slot lock", .current("open(\(directory)/\(index).lock)")) }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                return IdSlot(index: index, hostBase: pool.base + UInt32(index) * IdentityPlan.rangeSize, lock: FileDescriptor(fd))
            }
            close(fd)
        }
        throw SandboxError(.setupFailed, "all \(pool.slots) id ranges are in use by running sandboxes")
    }
}
