import CCap
import CWardenShim
import Glibc
import WardenSystem

/// Everything the child executes, as the C structure it reads (`wd_plan`). This object owns the
/// C memory; it must outlive the clone (the child reads its copy-on-write view of it), and is
/// freed by the parent afterwards.
final class ChildPlan {
    private(set) var plan = wd_plan()
    private var allocations: [UnsafeMutableRawPointer] = []
    private var capabilitySets: [cap_t] = []
    /// Detached trees referenced by descriptor in the operations; kept open until the clone.
    private var trees: [DetachedTree] = []

    struct Inputs {
        var controlFD: Int32
        var identity: IdentityPlan
        var newCgroupNamespace: Bool
        var mounts: MountPlan
        var landlock: LandlockPlan?
        var seccompBaseline: CompiledFilter?
        var seccompMain: CompiledFilter?
        var terminal: (enabled: Bool, stdioMask: UInt32, size: winsize)
        var nullStdioMask: UInt32
        var rlimits: [(resource: Int32, soft: UInt64, hard: UInt64)]
        var argv: [String]
        var environment: [(String, String)]
        var execPath: String
        var workingDirectory: String
        var spawnEnabled: Bool
        var profile: WorkloadProfile = .agent
    }

    init(_ inputs: Inputs) throws(SandboxError) {
        plan.control_fd = inputs.controlFD
        plan.init_uid = inputs.identity.initUID
        plan.init_gid = inputs.identity.initGID
        // The install profile's workload is the sandbox's root (range mode only: the request
        // is refused without it, see OverlayMounts).
        let install = inputs.profile == .install && inputs.identity.mode == .range
        plan.agent_uid = install ? 0 : IdentityPlan.agentID
        plan.agent_gid = install ? 0 : IdentityPlan.agentID
        plan.set_groups = inputs.identity.mode == .range ? 1 : 0
        plan.new_cgroupns = inputs.newCgroupNamespace ? 1 : 0
        plan.loopback_up = 1
        plan.staging_dir = cString("/tmp")
        plan.root_options = cString("mode=0755,size=1048576,nr_inodes=4096")
        plan.hostname = cString(GeneratedEtc.hostname)
        plan.cwd = cString(inputs.workingDirectory)

        let ops = inputs.mounts.operations.map(operation)
        plan.ops = array(ops)
        plan.op_count = ops.count

        plan.want_pty = inputs.terminal.enabled ? 1 : 0
        plan.pty_stdio_mask = inputs.terminal.stdioMask
        plan.winsize = inputs.terminal.size
        plan.null_stdio_mask = inputs.nullStdioMask

        if let landlock = inputs.landlock {
            plan.landlock_abi = Int32(landlock.abi)
            plan.landlock_handled_fs = landlock.handledAccess
            plan.landlock_scoped = landlock.scoped
            let rules = landlock.rules.map { wd_landlock_rule(path: cString($0.path), access: $0.access) }
            plan.landlock_rules = array(rules)
            plan.landlock_rule_count = rules.count
        }
        if let baseline = inputs.seccompBaseline {
            plan.seccomp_baseline = program(baseline)
            plan.seccomp_baseline_len = baseline.instructions.count
        }
        if let main = inputs.seccompMain {
            plan.seccomp_main = program(main)
            plan.seccomp_main_len = main.instructions.count
        }

        // pid 1 keeps only CAP_KILL (to forward signals to the workload, another id), and
        // CAP_SETUID/CAP_SETGID when it spawns processes with the workload's identity; the
        // workload gets every set empty.
        guard let empty = cap_init(), let initial = cap_init() else {
            throw SandboxError(.internalError, "libcap: cap_init failed")
        }
        capabilitySets = [empty, initial]
        var kept: [cap_value_t] = [CAP_KILL]
        if inputs.spawnEnabled { kept += [CAP_SETUID, CAP_SETGID] }
        cap_set_flag(initial, CAP_PERMITTED, Int32(kept.count), &kept, CAP_SET)
        cap_set_flag(initial, CAP_EFFECTIVE, Int32(kept.count), &kept, CAP_SET)
        plan.spawn_enabled = inputs.spawnEnabled ? 1 : 0
        if install {
            // Effective and permitted: the profile's few; exec as root keeps them (NOROOT off)
            // within the bounding set, and no_new_privs caps them at these.
            var granted: [cap_value_t] = WorkloadProfile.installCapabilities.map { cap_value_t($0) }
            cap_set_flag(empty, CAP_PERMITTED, Int32(granted.count), &granted, CAP_SET)
            cap_set_flag(empty, CAP_EFFECTIVE, Int32(granted.count), &granted, CAP_SET)
            plan.bounding_keep = WorkloadProfile.installCapabilities.reduce(UInt64(0)) { $0 | (1 << UInt64($1)) }
        }
        plan.caps_empty = UnsafeMutableRawPointer(empty)
        plan.caps_init = UnsafeMutableRawPointer(initial)
        plan.securebits = install ? Self.installSecurebits : Self.lockedSecurebits

        let limits = inputs.rlimits.map { wd_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        plan.rlimits = array(limits)
        plan.rlimit_count = limits.count

        plan.argv = stringArray(inputs.argv)
        plan.envp = stringArray(inputs.environment.map { "\($0.0)=\($0.1)" })
        plan.exec_path = cString(inputs.execPath)
    }

    deinit {
        for pointer in allocations { free(pointer) }
        for set in capabilitySets { cap_free(UnsafeMutableRawPointer(set)) }
    }

    /// NOROOT, NO_SETUID_FIXUP and NO_CAP_AMBIENT_RAISE, each locked. KEEP_CAPS is left off but
    /// unlocked: with every capability set empty and NO_SETUID_FIXUP locked it can keep nothing,
    /// and programs such as ping call PR_SET_KEEPCAPS and exit when it fails.
    static let lockedSecurebits: UInt32 = 0b1100_1111
    /// The install profile: NOROOT and NO_SETUID_FIXUP off (root's programs keep the profile's
    /// capabilities, and lose them when they drop to another user, as package managers expect),
    /// both locked, with NO_CAP_AMBIENT_RAISE.
    static let installSecurebits: UInt32 = 0b1100_1010

    /// Closes the detached trees in the parent once the child has its own copies.
    func releaseTrees() {
        for tree in trees { tree.descriptor.close() }
        trees.removeAll()
    }

    // MARK: - C memory

    private func cString(_ text: String) -> UnsafePointer<CChar> {
        let copy = strdup(text)!
        allocations.append(UnsafeMutableRawPointer(copy))
        return UnsafePointer(copy)
    }

    private func bytes(_ contents: [UInt8]) -> UnsafePointer<CChar> {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, contents.count))
        contents.withUnsafeBytes { source in
            if let base = source.baseAddress { UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: source.count) }
        }
        allocations.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }

    private func array<T>(_ items: [T]) -> UnsafePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(1, items.count))
        pointer.initialize(from: items, count: items.count)
        allocations.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }

    private func stringArray(_ strings: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        var pointers: [UnsafePointer<CChar>?] = strings.map { cString($0) }
        pointers.append(nil)
        return array(pointers)
    }

    private func program(_ filter: CompiledFilter) -> UnsafePointer<sock_filter> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(8, filter.byteCount), alignment: 8)
        filter.instructions.withUnsafeBytes { source in
            if let base = source.baseAddress { raw.copyMemory(from: base, byteCount: source.count) }
        }
        allocations.append(raw)
        return UnsafePointer(raw.assumingMemoryBound(to: sock_filter.self))
    }

    private func operation(_ operation: MountOperation) -> wd_op {
        var op = wd_op()
        op.fd = -1
        switch operation {
        case .makeDirectory(let path, let mode):
            op.kind = UInt32(WD_OP_MKDIR.rawValue)
            op.path = cString(path)
            op.mode = mode
        case .symlink(let path, let target):
            op.kind = UInt32(WD_OP_SYMLINK.rawValue)
            op.path = cString(path)
            op.arg = cString(target)
        case .writeFile(let path, let contents, let mode, let owner, let ownedBelow):
            op.kind = UInt32(WD_OP_WRITE_FILE.rawValue)
            op.path = cString(path)
            op.data = bytes(contents)
            op.data_len = contents.count
            op.mode = mode
            if let owner {
                op.flags |= UInt32(WD_OPF_OWNED)
                op.fd = Int32(bitPattern: owner)
                if let ownedBelow { op.arg = cString(ownedBelow) }
            }
        case .attach(let path, let tree, let create):
            op.kind = UInt32(WD_OP_ATTACH.rawValue)
            op.path = cString(path)
            op.fd = tree.descriptor.raw
            op.flags = (tree.isDirectory ? UInt32(WD_OPF_DIR) : 0) | (create ? UInt32(WD_OPF_CREATE) : 0)
            trees.append(tree)
        case .bindHost(let path, let source, let attributes, let directory, let create):
            op.kind = UInt32(WD_OP_BIND_HOST.rawValue)
            op.path = cString(path)
            op.arg = cString(source)
            op.attr_set = attributes.rawValue
            op.flags = (directory ? UInt32(WD_OPF_DIR) : 0) | (create ? UInt32(WD_OPF_CREATE) : 0)
        case .filesystem(let path, let type, let options, let attributes, let create, let optional):
            op.kind = UInt32(WD_OP_MOUNT.rawValue)
            op.path = cString(path)
            op.arg = cString(type)
            op.data = cString(options)
            op.attr_set = attributes.rawValue
            op.flags = UInt32(WD_OPF_DIR) | (create ? UInt32(WD_OPF_CREATE) : 0) | (optional ? UInt32(WD_OPF_OPTIONAL) : 0)
        case .rebind(let source, let path, let attributes, let directory, let optional, let create):
            op.kind = UInt32(WD_OP_REBIND.rawValue)
            op.path = cString(path)
            op.arg = cString(source)
            op.attr_set = attributes.rawValue
            op.flags = (directory ? UInt32(WD_OPF_DIR) : 0) | (optional ? UInt32(WD_OPF_OPTIONAL) : 0) | (create ? UInt32(WD_OPF_CREATE) : 0)
        case .setAttributes(let path, let set, let recursive, let optional):
            op.kind = UInt32(WD_OP_SETATTR.rawValue)
            op.path = cString(path)
            op.attr_set = set.rawValue
            op.flags = (recursive ? UInt32(WD_OPF_RECURSIVE) : 0) | (optional ? UInt32(WD_OPF_OPTIONAL) : 0)
        case .overlay(let path, let lowers, let upper, let scratchMode, let attributes):
            op.kind = UInt32(WD_OP_OVERLAY.rawValue)
            op.path = cString(path)
            let joined: [UInt8] = lowers.flatMap { Array($0.utf8) + [UInt8(0)] }
            op.data = bytes(joined)
            op.data_len = joined.count
            op.arg = upper.map { cString($0) }
            op.mode = scratchMode ?? 0o755
            op.attr_set = attributes.rawValue
            op.flags = UInt32(WD_OPF_DIR) | UInt32(WD_OPF_CREATE) | (scratchMode != nil ? UInt32(WD_OPF_SCRATCH) : 0)
        case .selfBind(let base, let path, let attributes, let directory, let recursive, let optional):
            op.kind = UInt32(WD_OP_SELF_BIND.rawValue)
            op.path = cString(path)
            op.arg = cString(base)
            op.attr_set = attributes.rawValue
            op.flags = (directory ? UInt32(WD_OPF_DIR) : 0) | (recursive ? UInt32(WD_OPF_RECURSIVE) : 0) | (optional ? UInt32(WD_OPF_OPTIONAL) : 0)
        }
        return op
    }
}
