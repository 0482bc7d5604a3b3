import Glibc

/// What no profile can allow (R6, R7, R8): the baseline every sandbox gets, whichever profile it
/// runs (the shipped default or a user's Docker profile). It is compiled into its own filter and
/// also intersected into the profile's filter, so a profile can only narrow it.
public enum SeccompBaseline {
    /// Bumped whenever the rules below change (part of the manifest and of cache keys).
    public static let version = 2

    public enum Constraint: Sendable, Equatable {
        /// The syscall is refused with this errno.
        case deny(errno: Int32)
        /// The syscall is allowed only for arguments in the region; otherwise EPERM.
        case restrict(ArgumentRegion)
    }

    /// Syscalls refused outright. EPERM lets programs fail gracefully; a few return ENOSYS so
    /// that the C library falls back to an older call we can inspect (R7).
    public static let denied: [String: Int32] = {
        var table: [String: Int32] = [:]
        let eperm = [
            // debugging other processes, reading their memory
            "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
            // mounts and namespaces
            "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
            "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
            // kernel keyrings
            "keyctl", "add_key", "request_key",
            // kernel attack surface
            "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "fanotify_init", "uselib",
            "nfsservctl", "_sysctl", "syslog", "vhangup",
            // kernel modules, kexec, power
            "init_module", "finit_module", "delete_module", "create_module", "kexec_load",
            "kexec_file_load", "reboot",
            // host administration
            "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "iopl", "ioperm",
            "settimeofday", "stime", "clock_settime", "adjtimex", "clock_adjtime",
            // file handles bypass path-based checks (and escaped containers before)
            "open_by_handle_at", "name_to_handle_at",
        ]
        for name in eperm { table[name] = EPERM }
        // io_uring performs I/O on the kernel's own threads, outside the filter: refused.
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] { table[name] = EPERM }
        // clone3 takes its flags in memory the filter cannot read; ENOSYS makes glibc use
        // clone(2), whose namespace flags are checked below.
        table["clone3"] = ENOSYS
        // openat2 takes its mode in memory too (setuid files, below); ENOSYS makes programs
        // fall back to openat.
        table["openat2"] = ENOSYS
        return table
    }()

    /// Flags of clone(2) that create namespaces.
    public static let namespaceCloneFlags: UInt64 = 0x7E02_0000
    /// S_ISUID | S_ISGID: the workload must not create set-id files. Its files appear on the
    /// host as the developer's (idmapped mount), so a set-id file would be a set-id binary of
    /// the developer on the host.
    public static let setIDModeBits: UInt64 = 0o6000
    static let openCreateFlags: UInt64 = 0o100 | 0o20000000  // O_CREAT | __O_TMPFILE

    public static let terminalInjectionIoctls: [UInt64] = [0x5412, 0x541C]  // TIOCSTI, TIOCLINUX

    public static let allowedSocketFamilies: [(family: UInt32, name: String)] = [
        (1, "AF_UNIX"), (2, "AF_INET"), (10, "AF_INET6"), (16, "AF_NETLINK"),
    ]

    /// Syscalls allowed only for some arguments.
    public static let restricted: [String: ArgumentRegion] = {
        var table: [String: ArgumentRegion] = [:]
        // R6: only these socket families; netlink only for NETLINK_ROUTE (0); inet and inet6
        // only as stream or datagram sockets (no SOCK_RAW: raw sockets reach nothing, and the
        // refusal is counted and recorded by the network guard, R19).
        let inetTypes: [UInt64] = [1, 2]  // SOCK_STREAM, SOCK_DGRAM (under SOCK_TYPE_MASK 0xF)
        table["socket"] = ArgumentRegion(conjunctions: [[.equal32(0, 1)], [.equal32(0, 16), .equal32(2, 0)]]
            + [2, 10].flatMap { family in inetTypes.map { [.equal32(0, family), .masked(1, mask: 0xF, equals: $0)] } })
        table["socketpair"] = ArgumentRegion(conjunctions: [[.equal32(0, 1)]])
        table["clone"] = ArgumentRegion(conjunctions: [[.masked(0, mask: namespaceCloneFlags, equals: 0)]])
        // R7: TIOCSTI/TIOCLINUX, compared on the 32 bits the kernel reads.
        table["ioctl"] = ArgumentRegion.notIn(index: 1, values: terminalInjectionIoctls, width: 32)
        // No set-id bits through chmod, mknod, open/creat.
        for (name, modeIndex) in [("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2),
                                  ("mknod", 1), ("mknodat", 2), ("creat", 1)] {
            table[name] = ArgumentRegion(conjunctions: [[.masked(modeIndex, mask: setIDModeBits, equals: 0)]])
        }
        for (name, flagsIndex, modeIndex) in [("open", 1, 2), ("openat", 2, 3)] {
            table[name] = ArgumentRegion(conjunctions: [
                [.masked(flagsIndex, mask: openCreateFlags, equals: 0)],
                [.masked(modeIndex, mask: setIDModeBits, equals: 0)],
            ])
        }
        return table
    }()

    public static func constraint(for name: String) -> Constraint? {
        if let errno = denied[name] { return .deny(errno: errno) }
        if let region = restricted[name] { return .restrict(region) }
        return nil
    }
}
