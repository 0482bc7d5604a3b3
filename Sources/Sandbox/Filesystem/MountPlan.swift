import CWardenShim
import Glibc
import WardenSystem

/// mount_setattr(2) attribute bits.
public struct MountAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let readOnly = MountAttributes(rawValue: 0x1)
    public static let noSetID = MountAttributes(rawValue: 0x2)
    public static let noDevices = MountAttributes(rawValue: 0x4)
    public static let noExec = MountAttributes(rawValue: 0x8)
    public static let idmap = MountAttributes(rawValue: 0x10_0000)

    public static let sealedReadOnly: MountAttributes = [.readOnly, .noSetID, .noDevices]
}

/// How host paths enter the sandbox: cloned by the parent (root: it may see paths the child,
/// already an unprivileged id, cannot) or by the child (without root the parent may not clone
/// mounts of the host's namespace; the child may clone those of its own copy).
public enum HostBindStrategy: Sendable {
    case parent
    case child
}

/// A mount made by the parent with open_tree(OPEN_TREE_CLONE) and not attached anywhere yet;
/// the child attaches it inside its own mount namespace. The parent opens it because the
/// parent may still see host paths the child, already running as an unprivileged id, cannot.
public final class DetachedTree: @unchecked Sendable {
    // Safe: the descriptor is created and consumed on the launching thread only.
    public let descriptor: FileDescriptor
    public let source: String
    public let isDirectory: Bool

    init(descriptor: FileDescriptor, source: String, isDirectory: Bool) {
        self.descriptor = descriptor
        self.source = source
        self.isDirectory = isDirectory
    }

    /// Clones the mount at `path` (recursively when asked) and applies `attributes`, with the
    /// given user namespace for idmapping. `path` is resolved without following any symlink and
    /// the clone is made from that descriptor, so a path component swapped for a symlink between
    /// validation and here is refused rather than followed (R14).
    public static func open(_ path: String, recursive: Bool, attributes: MountAttributes, userNamespace: FileDescriptor? = nil) throws(SystemError) -> DetachedTree {
        let anchorFD = try FileDescriptor.open(path, openPathOnly, resolve: .noLinks)
        let emptyPath = UInt32(0x1000 /* AT_EMPTY_PATH */)
        let flags = UInt32(1 /* OPEN_TREE_CLONE */) | UInt32(O_CLOEXEC) | emptyPath | (recursive ? 0x8000 /* AT_RECURSIVE */ : 0)
        let fd = wd_open_tree(anchorFD.raw, "", flags)
        guard fd >= 0 else { throw SystemError.current("open_tree(\(path))") }
        let tree = FileDescriptor(fd)
        if !attributes.isEmpty {
            let rc = wd_mount_setattr(fd, "", emptyPath | (recursive ? 0x8000 : 0), attributes.rawValue, 0, 0, userNamespace?.raw ?? -1)
            if rc != 0 { throw SystemError.current("mount_setattr(\(path))") }
        }
        let st = try tree.stat()
        return DetachedTree(descriptor: tree, source: path, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)
    }
}

/// One step of building the sandbox's root, executed in order by the child.
public enum MountOperation: Sendable {
    case makeDirectory(path: String, mode: UInt32)
    case symlink(path: String, target: String)
    /// `owner`: the uid the file (and directories made for it below `ownedBelow`) belong to.
    case writeFile(path: String, contents: [UInt8], mode: UInt32, owner: UInt32? = nil, ownedBelow: String? = nil)
    case attach(path: String, tree: DetachedTree, create: Bool)
    /// Rootless form of `attach`: the child clones `source` itself (recursively) and applies
    /// `attributes` before attaching it.
    case bindHost(path: String, source: String, attributes: MountAttributes, directory: Bool, create: Bool)
    case filesystem(path: String, type: String, options: String, attributes: MountAttributes, create: Bool, optional: Bool = false)
    /// Clones the mount found at `source` (inside the new root) onto `path`.
    case rebind(source: String, path: String, attributes: MountAttributes, directory: Bool, optional: Bool, create: Bool)
    case setAttributes(path: String, set: MountAttributes, recursive: Bool, optional: Bool)
    /// Binds `path` (beneath the directory `base`, resolved without symlinks and without
    /// crossing mounts) onto itself with `attributes`.
    case selfBind(base: String, path: String, attributes: MountAttributes, directory: Bool, recursive: Bool, optional: Bool)
    /// overlayfs at `path`: `lowers` (paths in the new root, topmost first; staged ones are
    /// unmounted once it is mounted), `upper` a staged directory holding upper/ and work/.
    case overlay(path: String, lowers: [String], upper: String?, scratchMode: UInt32?, attributes: MountAttributes)
}

/// What the manifest reports for each mount.
public struct MountRecord: Sendable, Equatable, Codable {
    public let target: String
    public let source: String
    public let mode: String
}

/// The whole plan: operations for the child plus the records for the manifest.
public struct MountPlan: Sendable {
    public var operations: [MountOperation] = []
    public var records: [MountRecord] = []

    mutating func add(_ operation: MountOperation, record: MountRecord? = nil) {
        operations.append(operation)
        if let record { records.append(record) }
    }
}
