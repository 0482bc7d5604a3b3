import Glibc
import WardenSystem

/// Builds the sandbox's file system: a fresh root with read-only system directories, generated
/// /etc files, the workspace at /workspace (idmapped), tmpfs /tmp and home, a private /proc
/// with its dangerous files masked, and a minimal /dev. Host /home, /root, /var, /run and
/// everything else are absent because nothing puts them there.
public struct MountPlanBuilder {
    public static let workspaceTarget = "/workspace"

    public let systemRoot: String
    public let workspace: String
    public let workspaceUserNamespace: FileDescriptor?
    public let git: GitGuard
    public let readOnlyBinds: [BindRequest]
    public let readWriteBinds: [BindRequest]
    public let network: NetworkMode
    public let limits: ResourceLimits
    /// True when the sandbox maps group 5 (tty), i.e. it has its own id range.
    public let ttyGroupMapped: Bool
    public let hostBinds: HostBindStrategy
    /// Copy-on-write views (they need `identity` in range mode).
    public var overlays: [OverlayRequest] = []
    public var identity: IdentityPlan?
    public var generatedFiles: [GeneratedFile] = []
    /// The install profile: passwd and group also list the base system's package accounts.
    public var packageAccounts = false

    /// Adds a bind of a host path, cloned by whoever may (see `HostBindStrategy`).
    private func bind(_ plan: inout MountPlan, source: String, at path: String, recursive: Bool, attributes: MountAttributes,
                      userNamespace: FileDescriptor? = nil, record: MountRecord?) throws(SystemError) {
        switch hostBinds {
        case .parent:
            let tree = try DetachedTree.open(source, recursive: recursive, attributes: attributes, userNamespace: userNamespace)
            plan.add(.attach(path: path, tree: tree, create: true), record: record)
        case .child:
            guard let st = Files.stat(source) else { throw SystemError(errno: ENOENT, step: "stat(\(source))") }
            plan.add(.bindHost(path: path, source: source, attributes: attributes.subtracting(.idmap),
                               directory: (st.st_mode & S_IFMT) == S_IFDIR, create: true), record: record)
        }
    }

    /// System directories taken from `systemRoot` (symlinks, as in merged-/usr systems, are
    /// recreated as symlinks).
    public static let systemEntries = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]
    /// Host device nodes bound into /dev.
    public static let devices = ["null", "zero", "full", "random", "urandom", "tty"]
    /// /proc entries hidden behind /dev/null (files) or an empty read-only tmpfs (directories).
    public static let maskedProcFiles = ["kcore", "keys", "timer_list", "sched_debug", "latency_stats", "kallsyms",
                                         "kmsg", "kpagecount", "kpageflags", "kpagecgroup",
                                         "vmallocinfo", "config.gz"]
    public static let maskedProcDirectories = ["acpi", "scsi", "asound", "firmware", "driver"]
    public static let readOnlyProc = ["sys", "bus", "fs", "irq", "sysrq-trigger"]
    /// /etc files up to this size are copied rather than bound.
    static let copiedFileLimit = 1 << 20

    public func build() throws(SandboxError) -> MountPlan {
        // A repository that could redirect git before the run starts: refused, nothing made.
        if let hazard = git.hazard { throw SandboxError(.setupFailed, "git protection: \(hazard)") }
        var plan = MountPlan()
        do throws(SystemError) {
            try addSystem(&plan)
            try addEtc(&plan)
            try addWorkspace(&plan)
            addScratch(&plan)
            try addOverlays(&plan)
            for file in generatedFiles {
                let home = String(GeneratedEtc.agentHome.dropFirst())
                let owned = file.ownedByWorkload && file.path.hasPrefix(GeneratedEtc.agentHome + "/")
                plan.add(.writeFile(path: String(file.path.drop { $0 == "/" }), contents: file.contents, mode: file.mode,
                                    owner: owned ? IdentityPlan.agentID : nil, ownedBelow: owned ? home : nil),
                         record: MountRecord(target: file.path, source: "generated", mode: "ro"))
            }
            for file in generatedFiles {
                guard let covered = file.covers else { continue }
                plan.add(.rebind(source: String(file.path.drop { $0 == "/" }), path: String(covered.drop { $0 == "/" }), attributes: .sealedReadOnly,
                                 directory: false, optional: true, create: false),
                         record: MountRecord(target: covered, source: file.path, mode: "ro"))
            }
            try addDevices(&plan)
            addProc(&plan)
            try addBinds(&plan)
        } catch {
            throw SandboxError(.setupFailed, "mount plan: \(error.description)", cause: error)
        }
        return plan
    }

    private func source(_ entry: String) -> String { joinPath(systemRoot, entry) }

    private func addSystem(_ plan: inout MountPlan) throws(SystemError) {
        for entry in Self.systemEntries {
            let path = source(entry)
            guard let st = Files.lstat(path) else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                if let target = Files.readLink(path) { plan.add(.symlink(path: entry, target: target)) }
            case S_IFDIR:
                try bind(&plan, source: path, at: entry, recursive: true, attributes: .sealedReadOnly,
                         record: MountRecord(target: "/" + entry, source: path, mode: "ro"))
            default:
                continue
            }
        }
    }

    private func addEtc(_ plan: inout MountPlan) throws(SystemError) {
        plan.add(.makeDirectory(path: "etc", mode: 0o755))
        for entry in GeneratedEtc.copiedEntries {
            let path = source("etc/" + entry)
            guard let st = Files.lstat(path) else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                if let target = Files.readLink(path) { plan.add(.symlink(path: "etc/" + entry, target: target)) }
            case S_IFREG where st.st_size <= Self.copiedFileLimit:
                // A small file is copied into the (read-only) root: cheaper than a mount.
                plan.add(.writeFile(path: "etc/" + entry, contents: try Files.read(path, limit: Self.copiedFileLimit), mode: 0o644),
                         record: MountRecord(target: "/etc/" + entry, source: path, mode: "ro,copy"))
            case S_IFDIR, S_IFREG:
                try bind(&plan, source: path, at: "etc/" + entry, recursive: false, attributes: .sealedReadOnly,
                         record: MountRecord(target: "/etc/" + entry, source: path, mode: "ro"))
            default:
                continue
            }
        }
        let accounts = packageAccounts
            ? ((try? Files.readText(source("etc/passwd"), limit: 1 << 20)) ?? "", (try? Files.readText(source("etc/group"), limit: 1 << 20)) ?? "")
            : nil
        for file in GeneratedEtc.files(network: network, packageAccounts: accounts) {
            plan.add(.writeFile(path: "etc/" + file.name, contents: Array(file.contents.utf8), mode: 0o644),
                     record: MountRecord(target: "/etc/" + file.name, source: "generated", mode: "ro"))
        }
    }

    private func addWorkspace(_ plan: inout MountPlan) throws(SystemError) {
        var attributes: MountAttributes = [.noSetID, .noDevices]
        if workspaceUserNamespace != nil { attributes.insert(.idmap) }
        let target = String(Self.workspaceTarget.dropFirst())
        try bind(&plan, source: workspace, at: target, recursive: false, attributes: attributes, userNamespace: workspaceUserNamespace,
                 record: MountRecord(target: Self.workspaceTarget, source: workspace, mode: workspaceUserNamespace != nil ? "rw,idmapped" : "rw"))
        guard git.hasRepository else { return }
        for protection in git.protections {
            switch protection {
            case .readOnly(let path, let isDirectory):
                plan.add(.selfBind(base: target, path: path, attributes: .sealedReadOnly, directory: isDirectory,
                                   recursive: false, optional: false),
                         record: MountRecord(target: Self.workspaceTarget + "/" + path, source: workspace + "/" + path, mode: "ro"))
            case .pin(let path):
                plan.add(.selfBind(base: target, path: path, attributes: [.noSetID, .noDevices], directory: true,
                                   recursive: true, optional: false))
            }
        }
    }

    private func addScratch(_ plan: inout MountPlan) {
        let size = limits.memoryBytes
        plan.add(.filesystem(path: "tmp", type: "tmpfs", options: "mode=1777,size=\(size)",
                             attributes: [.noSetID, .noDevices], create: true),
                 record: MountRecord(target: "/tmp", source: "tmpfs", mode: "rw"))
        let agent = IdentityPlan.agentID
        plan.add(.filesystem(path: String(GeneratedEtc.agentHome.dropFirst()), type: "tmpfs",
                             options: "mode=0700,uid=\(agent),gid=\(agent),size=\(size)",
                             attributes: [.noSetID, .noDevices], create: true),
                 record: MountRecord(target: GeneratedEtc.agentHome, source: "tmpfs", mode: "rw"))
    }

    private func addOverlays(_ plan: inout MountPlan) throws(SystemError) {
        guard !overlays.isEmpty else { return }
        guard let identity else { throw SystemError(errno: EPERM, step: "overlays need the sandbox's identity") }
        var mounts = OverlayMounts(identity: identity)
        try mounts.add(overlays, to: &plan)
    }

    private func addDevices(_ plan: inout MountPlan) throws(SystemError) {
        plan.add(.filesystem(path: "dev", type: "tmpfs", options: "mode=0755,size=65536,nr_inodes=64",
                             attributes: [.noSetID, .noExec], create: true),
                 record: MountRecord(target: "/dev", source: "tmpfs", mode: "ro"))
        for device in Self.devices {
            try bind(&plan, source: "/dev/" + device, at: "dev/" + device, recursive: false, attributes: [.noSetID, .noExec], record: nil)
        }
        // gid=5 (tty) exists only when the sandbox has its own id range.
        let ptsOptions = "newinstance,ptmxmode=0666,mode=0620" + (ttyGroupMapped ? ",gid=5" : "")
        plan.add(.filesystem(path: "dev/pts", type: "devpts", options: ptsOptions,
                             attributes: [.noSetID, .noExec], create: true),
                 record: MountRecord(target: "/dev/pts", source: "devpts", mode: "rw"))
        plan.add(.symlink(path: "dev/ptmx", target: "pts/ptmx"))
        plan.add(.filesystem(path: "dev/shm", type: "tmpfs", options: "mode=1777,size=\(limits.memoryBytes / 2)",
                             attributes: [.noSetID, .noDevices, .noExec], create: true),
                 record: MountRecord(target: "/dev/shm", source: "tmpfs", mode: "rw"))
        plan.add(.symlink(path: "dev/fd", target: "/proc/self/fd"))
        for (index, name) in ["stdin", "stdout", "stderr"].enumerated() {
            plan.add(.symlink(path: "dev/" + name, target: "/proc/self/fd/\(index)"))
        }
        plan.add(.setAttributes(path: "dev", set: [.readOnly, .noSetID, .noExec], recursive: false, optional: false))
    }

    private func addProc(_ plan: inout MountPlan) {
        plan.add(.filesystem(path: "proc", type: "proc", options: "", attributes: [.noSetID, .noDevices, .noExec], create: true),
                 record: MountRecord(target: "/proc", source: "proc", mode: "rw"))
        for name in Self.readOnlyProc {
            plan.add(.rebind(source: "proc/" + name, path: "proc/" + name, attributes: .sealedReadOnly, directory: name != "sysrq-trigger",
                             optional: true, create: false))
        }
        for name in Self.maskedProcFiles {
            plan.add(.rebind(source: "dev/null", path: "proc/" + name, attributes: .sealedReadOnly, directory: false,
                             optional: true, create: false))
        }
        for name in Self.maskedProcDirectories {
            plan.add(.filesystem(path: "proc/" + name, type: "tmpfs", options: "size=4096,nr_inodes=2,mode=0555",
                                 attributes: [.readOnly, .noSetID, .noDevices, .noExec], create: false, optional: true))
        }
    }

    private func addBinds(_ plan: inout MountPlan) throws(SystemError) {
        for request in readOnlyBinds {
            try bind(&plan, source: request.source, at: String(request.target.dropFirst()), recursive: true, attributes: .sealedReadOnly,
                     record: MountRecord(target: request.target, source: request.source, mode: "ro"))
        }
        for request in readWriteBinds {
            var attributes: MountAttributes = [.noSetID, .noDevices]
            if workspaceUserNamespace != nil { attributes.insert(.idmap) }
            try bind(&plan, source: request.source, at: String(request.target.dropFirst()), recursive: false, attributes: attributes,
                     userNamespace: workspaceUserNamespace,
                     record: MountRecord(target: request.target, source: request.source, mode: workspaceUserNamespace != nil ? "rw,idmapped" : "rw"))
        }
    }
}
