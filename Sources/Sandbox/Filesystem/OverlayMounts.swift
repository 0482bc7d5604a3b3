import CWardenShim
import Glibc
import WardenSystem

/// Turns overlay requests into mount operations: each read-only layer is a tree the parent
/// clones and idmaps (a snapshot written under another id range shows the same owners here; the
/// host directory's ids 0...65535 show as the sandbox's own, so its root may copy files up),
/// staged in the new root, used as an overlayfs layer, then unmounted again by the child.
struct OverlayMounts {
    let identity: IdentityPlan
    private var namespaces: [String: FileDescriptor] = [:]

    static let stagingDirectory = ".warden-layers"

    init(identity: IdentityPlan) {
        self.identity = identity
    }

    mutating func add(_ overlays: [OverlayRequest], to plan: inout MountPlan) throws(SystemError) {
        guard !overlays.isEmpty else { return }
        guard identity.mode == .range else { throw SystemError(errno: EPERM, step: "overlays (environment snapshots) need Warden's own id range: run as root") }
        for (index, overlay) in overlays.enumerated() {
            let target = String(overlay.target.drop { $0 == "/" })
            guard !target.isEmpty, !target.split(separator: "/").contains("..") else {
                throw SystemError(errno: EINVAL, step: "overlay target \(overlay.target)")
            }
            plan.add(.makeDirectory(path: target, mode: 0o755))
            var lowers: [String] = overlay.sandboxViewOnTop ? [target] : []
            for (number, layer) in overlay.layers.enumerated() {
                let staged = "\(Self.stagingDirectory)/\(index)-\(number)"
                let tree = try DetachedTree.open(layer.path, recursive: false, attributes: [.readOnly, .idmap, .noSetID, .noDevices],
                                                 userNamespace: try namespace(from: layer.idBase))
                plan.add(.attach(path: staged, tree: tree, create: true))
                lowers.append(staged)
            }
            if let host = overlay.host {
                let staged = "\(Self.stagingDirectory)/\(index)-host"
                // Only system ids (0...999): a person's files never become the agent's.
                let tree = try DetachedTree.open(host, recursive: false, attributes: [.readOnly, .idmap, .noSetID, .noDevices],
                                                 userNamespace: try namespace(from: 0, count: Self.systemIDs))
                plan.add(.attach(path: staged, tree: tree, create: true))
                lowers.append(staged)
            }
            // Otherwise the sandbox's own view is the bottom layer, unless the host directory is
            // that view (overlayfs refuses overlapping layers).
            if !overlay.sandboxViewOnTop && overlay.host == nil { lowers.append(target) }
            var upper: String?
            var scratchMode: UInt32?
            var mode = "ro"
            var attributes: MountAttributes = [.noSetID, .noDevices]
            switch overlay.upper {
            case .none:
                attributes.insert(.readOnly)
            case .scratch(let rootMode):
                scratchMode = rootMode
                mode = "rw,discarded"
            case .directory(let path), .agentDirectory(let path):
                try prepareUpper(path, agentOwned: overlay.upper == .agentDirectory(path))
                let staged = "\(Self.stagingDirectory)/\(index)-upper"
                plan.add(.attach(path: staged, tree: try DetachedTree.open(path, recursive: false, attributes: [.noSetID, .noDevices]), create: true))
                upper = staged
                mode = "rw,kept"
            }
            plan.add(.overlay(path: target, lowers: lowers, upper: upper, scratchMode: scratchMode, attributes: attributes),
                     record: MountRecord(target: overlay.target, source: "overlay(" + (overlay.layers.map(\.path) + [overlay.host].compactMap { $0 }).joined(separator: ":") + ")",
                                         mode: mode))
        }
    }

    static let systemIDs: UInt32 = 1000

    /// A user namespace that shows ids `from`...`from`+`count`-1 as the start of this sandbox's range.
    private mutating func namespace(from base: UInt32, count: UInt32 = IdentityPlan.rangeSize) throws(SystemError) -> FileDescriptor {
        let key = "\(base)+\(count)"
        if let existing = namespaces[key] { return existing }
        let map = "\(base) \(identity.hostBase) \(count)\n"
        let fd = wd_make_userns(map, map)
        guard fd >= 0 else { throw SystemError.current("create an id-mapping namespace for a snapshot layer") }
        let namespace = FileDescriptor(fd)
        namespaces[key] = namespace
        return namespace
    }

    /// upper/ and work/ belong to the sandbox's root (overlayfs writes there as the mounter);
    /// `agentOwned`: upper/, the merged directory's root, is the agent user's instead.
    private func prepareUpper(_ path: String, agentOwned: Bool = false) throws(SystemError) {
        for directory in [path + "/upper", path + "/work"] {
            let agent = agentOwned && directory.hasSuffix("/upper")
            if mkdir(directory, agent ? 0o700 : 0o755) != 0 && errno != EEXIST { throw SystemError.current("mkdir(\(directory))") }
            let owner = identity.hostBase + (agent ? IdentityPlan.agentID : 0)
            try check("chown(\(directory))") { lchown(directory, owner, owner) }
            try check("chmod(\(directory))") { chmod(directory, agent ? 0o700 : 0o755) }
        }
    }
}
