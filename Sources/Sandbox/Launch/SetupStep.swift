import CWardenShim

/// Names for the child's setup steps (`enum wd_step`), so a failure reads as
/// "sandbox setup failed at mount /usr: Permission denied".
enum SetupStep {
    static func describe(step: UInt32, index: Int32, plan: MountPlan, landlock: LandlockPlan?) -> String {
        switch step {
        case UInt32(WD_STEP_WAIT_GO.rawValue): return "waiting for the supervisor"
        case UInt32(WD_STEP_SETGROUPS.rawValue): return "setgroups in the user namespace"
        case UInt32(WD_STEP_SETGID.rawValue): return "setresgid in the user namespace"
        case UInt32(WD_STEP_SETUID.rawValue): return "setresuid in the user namespace"
        case UInt32(WD_STEP_CGROUPNS.rawValue): return "cgroup namespace"
        case UInt32(WD_STEP_SETSID.rawValue): return "setsid"
        case UInt32(WD_STEP_MOUNT_PRIVATE.rawValue): return "private mount propagation"
        case UInt32(WD_STEP_ROOT_TMPFS.rawValue): return "new root file system"
        case UInt32(WD_STEP_OP.rawValue): return "mount plan: " + describe(operation: index, plan: plan)
        case UInt32(WD_STEP_PIVOT_ROOT.rawValue): return "pivot_root"
        case UInt32(WD_STEP_ROOT_READONLY.rawValue): return "read-only root"
        case UInt32(WD_STEP_HOSTNAME.rawValue): return "hostname"
        case UInt32(WD_STEP_LOOPBACK.rawValue): return "loopback interface"
        case UInt32(WD_STEP_PTY.rawValue): return "pseudo-terminal"
        case UInt32(WD_STEP_LANDLOCK_RULESET.rawValue): return "Landlock ruleset"
        case UInt32(WD_STEP_LANDLOCK_RULE.rawValue):
            let path = landlock.flatMap { Int(index) < $0.rules.count ? $0.rules[Int(index)].path : nil } ?? "#\(index)"
            return "Landlock rule for \(path)"
        case UInt32(WD_STEP_LANDLOCK_RESTRICT.rawValue): return "Landlock restrict_self"
        case UInt32(WD_STEP_NO_NEW_PRIVS.rawValue): return "no_new_privs"
        case UInt32(WD_STEP_DUMPABLE.rawValue): return "non-dumpable init"
        case UInt32(WD_STEP_SECUREBITS.rawValue): return "securebits"
        case UInt32(WD_STEP_CAP_BOUNDING.rawValue): return "capability bounding set (cap \(index))"
        case UInt32(WD_STEP_CAP_AMBIENT.rawValue): return "ambient capabilities"
        case UInt32(WD_STEP_CLOSE_FDS.rawValue): return "closing inherited descriptors"
        case UInt32(WD_STEP_SECCOMP_BASELINE.rawValue): return "seccomp baseline filter"
        case UInt32(WD_STEP_SECCOMP_MAIN.rawValue): return "seccomp filter"
        case UInt32(WD_STEP_SEND_FD.rawValue): return "passing the seccomp listener"
        case UInt32(WD_STEP_FORK_WORKLOAD.rawValue): return "starting the workload"
        case UInt32(WD_STEP_INIT_CAPS.rawValue): return "init capabilities"
        case UInt32(WD_STEP_W_SIGNALS.rawValue): return "workload signal mask"
        case UInt32(WD_STEP_W_TERMINAL.rawValue): return "workload terminal"
        case UInt32(WD_STEP_W_RLIMIT.rawValue): return "workload rlimit #\(index)"
        case UInt32(WD_STEP_W_SETGROUPS.rawValue): return "workload setgroups"
        case UInt32(WD_STEP_W_SETGID.rawValue): return "workload setresgid"
        case UInt32(WD_STEP_W_SETUID.rawValue): return "workload setresuid"
        case UInt32(WD_STEP_W_CAPS.rawValue): return "dropping the workload's capabilities"
        case UInt32(WD_STEP_W_CHDIR.rawValue): return "workload working directory"
        default: return "step \(step)"
        }
    }

    static func describe(operation index: Int32, plan: MountPlan) -> String {
        guard index >= 0, Int(index) < plan.operations.count else { return "operation #\(index)" }
        switch plan.operations[Int(index)] {
        case .makeDirectory(let path, _): return "mkdir /\(path)"
        case .symlink(let path, let target): return "symlink /\(path) -> \(target)"
        case .writeFile(let path, _, _, _, _): return "write /\(path)"
        case .attach(let path, let tree, _): return "bind \(tree.source) at /\(path)"
        case .bindHost(let path, let source, _, _, _): return "bind \(source) at /\(path)"
        case .filesystem(let path, let type, _, _, _, _): return "mount \(type) at /\(path)"
        case .rebind(let source, let path, _, _, _, _): return "bind /\(source) at /\(path)"
        case .setAttributes(let path, _, _, _): return "set attributes of /\(path)"
        case .selfBind(let base, let path, _, _, _, _): return "protect /\(base)/\(path)"
        case .overlay(let path, let lowers, _, _, _): return "overlay at /\(path) (\(lowers.count) layers)"
        }
    }

    /// True for failures that mean a layer is missing on this kernel rather than a setup bug.
    static func isUnavailableLayer(step: UInt32, errno: Int32) -> Bool {
        let landlock = [WD_STEP_LANDLOCK_RULESET, WD_STEP_LANDLOCK_RESTRICT].map { UInt32($0.rawValue) }
        let seccomp = [WD_STEP_SECCOMP_BASELINE, WD_STEP_SECCOMP_MAIN].map { UInt32($0.rawValue) }
        return (landlock.contains(step) || seccomp.contains(step)) && (errno == 38 || errno == 95 || errno == 22)
    }
}
