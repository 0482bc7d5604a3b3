import CWardenShim
import Glibc
import WardenSystem

/// Checks every isolation layer on this kernel, as the current user, and says how to fix what
/// fails. The most common failure of sandboxes in the field is a distribution that forbids
/// user namespaces or lacks Landlock, found only at run time with an opaque error; this finds
/// it before.
public struct Doctor {
    /// Kernel facts, read once.
    let kernelConfig: [String: String]
    let uid: uid_t
    let workspace: String

    public init(workspace: String) {
        self.workspace = workspace
        uid = getuid()
        kernelConfig = Doctor.readKernelConfig()
    }

    public func run() -> [DoctorCheck] {
        [kernel(), userNamespaces(), seccomp(), landlock(), cgroups(), idmappedMounts(), overlayfs(), nftables(), veth(),
         defaultProfile(), wardenDirectories()]
    }

    // MARK: - Checks

    func kernel() -> DoctorCheck {
        let release = Host.kernelRelease
        let (major, minor) = Host.parseKernelVersion(release)
        if major > 5 || (major == 5 && minor >= 12) {
            return DoctorCheck("kernel", .ok, "Linux \(release) (\(Host.machine))")
        }
        return DoctorCheck("kernel", .failure, "Linux \(release) is older than 5.12 (no mount_setattr, close_range or seccomp notification ids)",
                           fix: "upgrade to a kernel of 5.12 or later (6.7+ for Landlock scopes)")
    }

    func userNamespaces() -> DoctorCheck {
        if let maximum = readInt("/proc/sys/user/max_user_namespaces"), maximum == 0 {
            return DoctorCheck("user namespaces", .failure, "user.max_user_namespaces is 0",
                               fix: "sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)")
        }
        if uid != 0 {
            if let flag = readInt("/proc/sys/kernel/unprivileged_userns_clone"), flag == 0 {
                return DoctorCheck("user namespaces", .failure, "kernel.unprivileged_userns_clone is 0: users cannot create user namespaces",
                                   fix: "sysctl -w kernel.unprivileged_userns_clone=1, or run warden as root")
            }
            if let flag = readInt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"), flag == 1 {
                return DoctorCheck("user namespaces", .failure, "AppArmor restricts unprivileged user namespaces",
                                   fix: "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or install an AppArmor profile granting `userns,` to the warden binary, or run as root")
            }
        }
        let map = "\(uid) \(uid) 1\n"
        let fd = wd_make_userns(map, map)
        if fd < 0 {
            let error = SystemError.current("create a user namespace")
            return DoctorCheck("user namespaces", .failure, error.description,
                               fix: "allow user namespaces (user.max_user_namespaces > 0; on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)")
        }
        close(fd)
        if uid == 0 {
            let pool = IdSlot.Pool.configured()
            let source = pool == .fallback ? "default pool" : "/etc/subuid entry \"warden\""
            return DoctorCheck("user namespaces", .ok, "available; sandboxes get 65536 host ids each from \(source) (base \(pool.base), \(pool.slots) slots)")
        }
        return DoctorCheck("user namespaces", .warning, "available without root, but only your own id can be mapped (R5 needs root)",
                           fix: "run as root for a private id range and an idmapped workspace, or pass --allow-degraded identity")
    }

    func seccomp() -> DoctorCheck {
        let actions = (try? Files.readText("/proc/sys/kernel/seccomp/actions_avail")) ?? ""
        let library = SyscallTable.libraryVersion
        guard actions.contains("user_notif") else {
            return DoctorCheck("seccomp", .failure, "the kernel has no SECCOMP_RET_USER_NOTIF (actions: \(actions.trimmingWhitespace()))",
                               fix: "upgrade to a kernel of 5.5 or later with CONFIG_SECCOMP_FILTER=y")
        }
        let parts = library.split(separator: ".").compactMap { Int($0) }
        if parts.count >= 2 && (parts[0] < 2 || (parts[0] == 2 && parts[1] < 5)) {
            return DoctorCheck("seccomp", .failure, "libseccomp \(library) has no notification API",
                               fix: "apt-get install libseccomp2 (2.5 or later)")
        }
        return DoctorCheck("seccomp", .ok, "filters with user notification; libseccomp \(library)")
    }

    func landlock() -> DoctorCheck {
        let abi = wd_landlock_abi()
        if abi < 0 {
            let code = Glibc.errno
            if code == EOPNOTSUPP {
                return DoctorCheck("landlock", .failure, "Landlock is built in but disabled",
                                   fix: "add landlock to the kernel's lsm= boot parameter (e.g. lsm=landlock,lockdown,yama,apparmor,bpf) and reboot")
            }
            return DoctorCheck("landlock", .failure, "the kernel has no Landlock (\(errnoDescription(code)))",
                               fix: "use a kernel of 5.13 or later built with CONFIG_SECURITY_LANDLOCK=y, or pass --allow-degraded landlock")
        }
        if abi < 6 {
            return DoctorCheck("landlock", .warning, "ABI \(abi): file-system rules only, no abstract-socket and signal scopes (ABI 6)",
                               fix: "upgrade to Linux 6.12 or later for scopes")
        }
        return DoctorCheck("landlock", .ok, "ABI \(abi) (file system, TCP, scopes)")
    }

    func cgroups() -> DoctorCheck {
        switch CgroupHierarchy.detect() {
        case .unavailable(let reason):
            return DoctorCheck("cgroups", .failure, reason,
                               fix: "mount cgroup2 at /sys/fs/cgroup (systemd.unified_cgroup_hierarchy=1) or the v1 memory and pids controllers")
        case .v1(let controllers):
            let missing = ["memory", "pids", "cpu", "freezer"].filter { controllers[$0] == nil }
            let detail = "v1 (" + controllers.keys.sorted().joined(separator: ", ") + ")"
            if uid != 0 {
                return DoctorCheck("cgroups", .failure, "\(detail): cgroup v1 cannot be delegated to a user",
                                   fix: "run as root, or pass --allow-degraded cgroups (no memory, pids or CPU limits)")
            }
            if !missing.isEmpty {
                return DoctorCheck("cgroups", .warning, "\(detail); missing \(missing.joined(separator: ", "))",
                                   fix: "mount the missing v1 controllers under /sys/fs/cgroup")
            }
            return writableCheck(detail: detail, parent: (controllers["memory"] ?? "") + "/" + SandboxCgroup.subtree)
        case .v2(let root):
            let available = ((try? Files.readText(root + "/cgroup.controllers")) ?? "").trimmingWhitespace()
            let needed = ["memory", "pids"].filter { !available.split(separator: " ").contains(Substring($0)) }
            if !needed.isEmpty {
                return DoctorCheck("cgroups", .failure, "v2 without the \(needed.joined(separator: ", ")) controller(s)",
                                   fix: "enable them: echo +memory +pids > \(root)/cgroup.subtree_control")
            }
            if uid != 0 {
                return DoctorCheck("cgroups", .failure, "v2 (\(available)); creating cgroups needs root",
                                   fix: "run as root, or pass --allow-degraded cgroups")
            }
            return writableCheck(detail: "v2 (\(available))", parent: root + "/" + SandboxCgroup.subtree)
        }
    }

    private func writableCheck(detail: String, parent: String) -> DoctorCheck {
        let probe = parent + "/doctor-\(getpid())"
        _ = mkdir(parent, 0o755)
        if mkdir(probe, 0o755) != 0 {
            let error = SystemError.current("mkdir(\(probe))")
            return DoctorCheck("cgroups", .failure, "\(detail); \(error.description)", fix: "make \(parent) writable by the user running warden")
        }
        rmdir(probe)
        return DoctorCheck("cgroups", .ok, "\(detail); sandboxes go under \(parent)")
    }

    func idmappedMounts() -> DoctorCheck {
        guard uid == 0 else {
            return DoctorCheck("idmapped mounts", .warning, "need root", fix: "run as root, or pass --allow-degraded identity")
        }
        let map = "0 \(0x7fff_0000) 1\n"
        let userns = wd_make_userns(map, map)
        guard userns >= 0 else {
            return DoctorCheck("idmapped mounts", .failure, SystemError.current("user namespace").description, fix: "see user namespaces")
        }
        defer { close(userns) }
        do {
            _ = try DetachedTree.open(workspace, recursive: false, attributes: [.idmap], userNamespace: FileDescriptor(dup(userns)))
            return DoctorCheck("idmapped mounts", .ok, "supported on the file system of \(workspace)")
        } catch {
            return DoctorCheck("idmapped mounts", .failure, "\(workspace): \(error.description)",
                               fix: "put workspaces on ext4, xfs, btrfs or tmpfs (Linux 6.3+), or pass --allow-degraded identity")
        }
    }

    func overlayfs() -> DoctorCheck {
        let filesystems = (try? Files.readText("/proc/filesystems")) ?? ""
        if filesystems.contains("overlay") { return DoctorCheck("overlayfs", .ok, "available (snapshots and copy-on-write workspaces)") }
        if kernelConfig["CONFIG_OVERLAY_FS"] == "m" || Files.exists("/lib/modules/\(Host.kernelRelease)/kernel/fs/overlayfs") {
            return DoctorCheck("overlayfs", .warning, "built as a module, not loaded", fix: "modprobe overlay")
        }
        return DoctorCheck("overlayfs", .failure, "not in /proc/filesystems", fix: "use a kernel with CONFIG_OVERLAY_FS, then modprobe overlay")
    }

    func nftables() -> DoctorCheck {
        let candidates: [String] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        let binary: String? = candidates.first(where: { access($0, X_OK) == 0 })
        let kernel = kernelFeature("CONFIG_NF_TABLES", module: "nf_tables")
        switch (binary, kernel) {
        case (.some(let path), true): return DoctorCheck("nftables", .ok, "\(path); nf_tables in the kernel")
        case (nil, _): return DoctorCheck("nftables", .failure, "the nft command is missing (needed by the network guard)", fix: "apt-get install nftables")
        default: return DoctorCheck("nftables", .failure, "the kernel has no nf_tables", fix: "modprobe nf_tables (CONFIG_NF_TABLES)")
        }
    }

    func veth() -> DoctorCheck {
        if kernelFeature("CONFIG_VETH", module: "veth") { return DoctorCheck("veth", .ok, "available") }
        return DoctorCheck("veth", .failure, "the kernel has no veth pairs (needed by the network guard)", fix: "modprobe veth (CONFIG_VETH)")
    }

    func defaultProfile() -> DoctorCheck {
        do {
            let profile = try PolicyLocator.defaultSeccompProfile()
            _ = try SeccompProfile.parse(profile.bytes, source: profile.source)
            return DoctorCheck("default profile", .ok, profile.source)
        } catch {
            return DoctorCheck("default profile", .failure, error.message, fix: "run `make install`, or set WARDEN_POLICY_DIR to the policies directory")
        }
    }

    func wardenDirectories() -> DoctorCheck {
        let paths = WardenPaths.forCurrentUser()
        do {
            try WardenPaths.ensurePrivateDirectory(paths.runtime)
            return DoctorCheck("state", .ok, "home \(paths.home), runtime \(paths.runtime)")
        } catch {
            return DoctorCheck("state", .failure, error.message, fix: "fix the ownership or mode of \(paths.runtime) (0700, owned by you)")
        }
    }

    // MARK: - Helpers

    private func readInt(_ path: String) -> Int? {
        guard let text = try? Files.readText(path) else { return nil }
        return Int(text.trimmingWhitespace())
    }

    private func kernelFeature(_ option: String, module: String) -> Bool {
        if let value = kernelConfig[option] { return value == "y" || (value == "m" && Files.exists("/sys/module/\(module)")) || value == "m" }
        return Files.exists("/sys/module/\(module)")
    }

    static func readKernelConfig() -> [String: String] {
        // /proc/config.gz needs zlib; most distributions also ship /boot/config-RELEASE.
        guard let text = (try? Files.readText("/boot/config-\(Host.kernelRelease)")) ?? Doctor.gunzipConfig() else { return [:] }
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result
    }

    static func gunzipConfig() -> String? {
        guard Files.exists("/proc/config.gz"), access("/bin/gzip", X_OK) == 0 else { return nil }
        guard let pipe = popen("/bin/gzip -dc /proc/config.gz 2>/dev/null", "r") else { return nil }
        defer { pclose(pipe) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            text += buffer[0..<n]
            if text.count > 8 << 20 { break }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
