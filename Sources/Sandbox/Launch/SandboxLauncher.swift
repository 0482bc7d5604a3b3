import CWardenShim
import Glibc
import WardenSystem

/// The result of `warden run`: Warden's exit status, the one line to print (if any), and the
/// manifest.
public struct RunOutcome: Sendable {
    public var exitStatus: Int32
    public var message: String?
    public var manifest: RunManifest
}

/// Builds a sandbox for one command, runs it, and tears it down. Order matters and follows the
/// requirements: every layer is prepared (and every refusal decided) before anything starts;
/// inside, mounts come first, then Landlock (R15), capabilities, and seccomp last (R9).
public final class SandboxLauncher {
    let configuration: RunConfiguration
    private var manifest: RunManifest
    private var cgroup: SandboxCgroup?
    private var slot: IdSlot?
    private var git: GitGuard?
    private var phaseStart = monotonicNanoseconds()

    /// Records the time since the previous mark under `name`.
    private func mark(_ name: String) {
        let now = max(monotonicNanoseconds(), phaseStart)
        manifest.phases.append(RunManifest.Phase(name: name, milliseconds: Double(now - phaseStart) / 1e6))
        phaseStart = now
    }

    /// `started`: when the process began handling the run (monotonic ns), so the manifest's
    /// phases also show the time spent before the launcher (start-up, validation).
    public init(configuration: RunConfiguration, started: UInt64? = nil) {
        self.configuration = configuration
        let runID = hexString(Host.randomBytes(8))
        manifest = RunManifest(runID: runID, started: rfc3339Now(), command: configuration.request.command,
                               workspace: configuration.workspace)
        if let started {
            phaseStart = started
            mark("validate")
        }
    }

    public func run() -> RunOutcome {
        let started = monotonicNanoseconds()
        var outcome: RunOutcome
        do {
            outcome = try launch()
        } catch {
            manifest.exit.reason = error.code == .layerUnavailable ? "layer-unavailable" : "setup-failed"
            outcome = RunOutcome(exitStatus: WardenExitCode.code(for: error), message: error.message, manifest: manifest)
        }
        if let cgroup {
            cgroup.killAll()
            if outcome.manifest.peakMemoryBytes == nil { outcome.manifest.peakMemoryBytes = cgroup.stats().peakMemoryBytes }
            cgroup.remove()
        }
        slot = nil
        // What the sandbox left in .git that would run its code under the developer's git.
        if let git {
            let findings = git.audit(workspace: configuration.workspace, runID: manifest.runID)
            if !findings.isEmpty {
                outcome.manifest.warnings += findings.map { "git: " + $0 }
                let note = "warden: the sandbox left git redirections in the workspace, now quarantined: " + findings.joined(separator: "; ")
                outcome.message = outcome.message.map { $0 + "\n" + note } ?? note
            }
        }
        let now = max(monotonicNanoseconds(), phaseStart)
        outcome.manifest.phases.append(RunManifest.Phase(name: "teardown", milliseconds: Double(now - phaseStart) / 1e6))
        outcome.manifest.wallSeconds = Double(monotonicNanoseconds() - started) / 1e9
        outcome.manifest.exit.status = outcome.exitStatus
        if let message = outcome.message { outcome.manifest.exit.message = message }
        return outcome
    }

    // MARK: - Preparation

    private func launch() throws(SandboxError) -> RunOutcome {
        let request = configuration.request
        let degraded = request.allowDegraded
        manifest.layers.namespaces = ["user", "pid", "mount", "uts", "ipc", "net", "cgroup"]
        manifest.layers.network = request.network.rawValue

        // Refuse missing layers before anything is created (fail closed).
        let seccompAvailable = Self.seccompNotificationsAvailable
        if !seccompAvailable && !degraded.contains(.seccomp) {
            throw SandboxError(.layerUnavailable, "seccomp user notification is not available on this kernel (run `warden doctor`); pass --allow-degraded seccomp to run without a syscall filter")
        }
        let abi = LandlockPlan.kernelABI
        if abi == 0 && !degraded.contains(.landlock) {
            throw SandboxError(.layerUnavailable, "Landlock is not available on this kernel (run `warden doctor`); pass --allow-degraded landlock to run without it")
        }

        // Identity (R5).
        var identity: IdentityPlan
        var workspaceNamespace: FileDescriptor?
        if configuration.rootless {
            guard degraded.contains(.identity) else {
                throw SandboxError(.layerUnavailable, "a private range of host ids needs root; pass --allow-degraded identity to map only your own id")
            }
            identity = .singleID(workspaceOwner: configuration.workspaceOwner)
            manifest.degraded.append(Layer.identity.rawValue)
        } else {
            let slot = try IdSlot.acquire(pool: .configured(), runtimeDirectory: configuration.paths.runtime)
            self.slot = slot
            identity = .range(slot: slot, workspaceOwner: configuration.workspaceOwner)
        }

        mark("identity")
        // cgroups: created on a helper thread while the rest is prepared.
        var newCgroupNamespace = false
        var cgroupWork: BackgroundWork<Result<SandboxCgroup, SandboxError>>?
        let hierarchy = CgroupHierarchy.current
        if configuration.rootless || hierarchy.version == nil {
            guard degraded.contains(.cgroups) else {
                let why: String
                if case .unavailable(let reason) = hierarchy { why = reason } else { why = "creating cgroups needs root or a delegated cgroup v2 subtree" }
                throw SandboxError(.layerUnavailable, "cgroups: \(why); pass --allow-degraded cgroups to run without memory, pids and CPU limits")
            }
            manifest.degraded.append(Layer.cgroups.rawValue)
        } else {
            let name = "slot-\(identity.slot)", limits = request.limits
            cgroupWork = BackgroundWork {
                Result { () throws(SandboxError) in try SandboxCgroup.create(hierarchy: hierarchy, name: name, limits: limits) }
            }
            newCgroupNamespace = true
            manifest.layers.cgroups = RunManifest.Cgroups(version: hierarchy.version ?? 0, path: "",
                                                          memoryBytes: request.limits.memoryBytes, pids: request.limits.pids,
                                                          cpus: request.limits.cpus)
        }
        /// Waits for the helper thread: the cgroup exists.
        func awaitCgroup() throws(SandboxError) -> SandboxCgroup? {
            guard let work = cgroupWork else { return cgroup }
            cgroupWork = nil
            let created = try work.wait().get()
            cgroup = created
            manifest.layers.cgroups?.path = created.displayPath
            manifest.warnings += created.warnings
            return created
        }
        defer { _ = try? awaitCgroup() }

        mark("cgroups")
        // seccomp: the profile's filter (with the baseline intersected in) and the baseline's own.
        var mainFilter: CompiledFilter?, baselineFilter: CompiledFilter?, resolver: LazyDenialResolver?
        if seccompAvailable {
            let context = FilterPlan.Context.current
            let prepared = try SeccompPreparation.prepare(
                profileBytes: configuration.profileBytes, profileSHA256: configuration.profileSHA256,
                source: configuration.profileSource, context: context, cacheDirectory: configuration.paths.home + "/cache/seccomp")
            mainFilter = prepared.main
            // The shipped profile's filter already has the baseline intersected in (and is ours);
            // a user's profile also gets the baseline as a separate filter it cannot touch.
            baselineFilter = request.seccompProfile == nil ? nil : prepared.baseline
            resolver = LazyDenialResolver(bytes: configuration.profileBytes, source: configuration.profileSource, context: context)
            manifest.layers.seccomp = RunManifest.Seccomp(
                profile: configuration.profileName, source: configuration.profileSource, sha256: configuration.profileSHA256,
                rules: prepared.main.ruleCount, instructions: prepared.main.instructions.count, baselineVersion: SeccompBaseline.version,
                baselineRules: prepared.baseline.ruleCount, filters: request.seccompProfile == nil ? 1 : 2,
                libseccomp: SyscallTable.libraryVersion,
                ignoredSyscalls: prepared.ignoredSyscalls)
            mark(prepared.fromCache ? "seccomp (cached)" : "seccomp (compiled)")
        } else {
            manifest.degraded.append(Layer.seccomp.rawValue)
        }

        // Landlock.
        var landlock: LandlockPlan?
        let binds = (configuration.readWriteBinds.map(\.target), configuration.readOnlyBinds.map(\.target))
        if abi > 0 {
            landlock = LandlockPlan.make(abi: abi, workspace: MountPlanBuilder.workspaceTarget, home: GeneratedEtc.agentHome,
                                         writable: binds.0, readable: binds.1)
        } else {
            manifest.degraded.append(Layer.landlock.rawValue)
        }

        mark("landlock")
        if identity.mode == .range { workspaceNamespace = try identity.makeWorkspaceUserNamespace() }
        mark("idmap-namespace")
        // File system.
        let git = GitGuard.inspect(workspace: configuration.workspace)
        self.git = git
        var mounts: MountPlan
        do {
            mounts = try mountPlan(git: git, identity: identity, userNamespace: workspaceNamespace)
        } catch where workspaceNamespace != nil && error.cause?.step.hasPrefix("mount_setattr") == true {
            // The workspace's file system cannot be idmapped.
            guard degraded.contains(.identity) else {
                throw SandboxError(.layerUnavailable, "the file system of \(configuration.workspace) does not support idmapped mounts (\(error.cause?.reason ?? "")); pass --allow-degraded identity to run without one")
            }
            manifest.degraded.append(Layer.identity.rawValue)
            workspaceNamespace = nil
            mounts = try mountPlan(git: git, identity: identity, userNamespace: nil)
        }
        if !git.hasRepository {
            manifest.warnings.append("the workspace is not a git repository: if the command creates .git, review .git/hooks and .git/config before running git there")
        }
        manifest.layers.mounts = mounts.records
        manifest.layers.identity = RunManifest.Identity(
            mode: identity.mode.rawValue, hostIDBase: identity.mode == .range ? identity.hostBase : nil,
            hostIDCount: identity.mode == .range ? IdentityPlan.rangeSize : nil, workloadUID: IdentityPlan.agentID,
            workloadHostUID: identity.mode == .range ? identity.hostBase + IdentityPlan.agentID : identity.callerUID,
            workspaceOwnerUID: identity.workspaceOwnerUID, idmappedWorkspace: workspaceNamespace != nil)
        if let landlock {
            manifest.layers.landlock = RunManifest.Landlock(
                abi: landlock.abi, handledAccess: LandlockPlan.accessNames(landlock.handledAccess), scopes: landlock.scopeNames,
                rules: landlock.rules.map { RunManifest.Landlock.Rule(path: $0.path, access: LandlockPlan.accessNames($0.access)) })
        }

        mark("mount-plan")
        // Terminal (R12).
        let terminal = Self.terminalPlan(request.terminal)
        manifest.layers.terminal = terminal.enabled ? "pty" : (terminal.nullMask != 0 ? "detached" : "none")

        let rlimits = Self.rlimits(request.limits)
        for limit in rlimits { manifest.layers.rlimits[limit.name] = [limit.soft, limit.hard] }

        // Control channel and signals: blocked before the clone, so nothing is lost in between.
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SandboxError.setup("control channel", .current("socketpair"))
        }
        let parentEnd = FileDescriptor(pair[0]), childEnd = FileDescriptor(pair[1])
        signal(SIGPIPE, SIG_IGN)
        let signals: SignalChannel
        do {
            signals = try SignalChannel(signals: [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD])
        } catch {
            throw SandboxError.setup("signal handling", error)
        }
        defer { signals.restore() }

        // The sandbox is born in its cgroup: on v2 through CLONE_INTO_CGROUP, on v1 by cloning
        // from this thread while it stands in the sandbox's cgroup (see enterCallingThread).
        let sandboxCgroup = try awaitCgroup()
        let cloneIntoCgroup = sandboxCgroup?.directoryForClone()
        let childPlan = try ChildPlan(ChildPlan.Inputs(
            controlFD: childEnd.raw, identity: identity, newCgroupNamespace: newCgroupNamespace, mounts: mounts,
            landlock: landlock, seccompBaseline: baselineFilter, seccompMain: mainFilter,
            terminal: (terminal.enabled, terminal.ptyMask, terminal.size), nullStdioMask: terminal.nullMask,
            rlimits: rlimits.map { ($0.resource, $0.soft, $0.hard) }, argv: request.command,
            environment: configuration.environment,
            execPath: configuration.environment.first { $0.0 == "PATH" }?.1 ?? RunConfiguration.defaultPath,
            workingDirectory: MountPlanBuilder.workspaceTarget))

        // Clone. The child waits for GO: its ids must be mapped first.
        let flags = Self.namespaceFlags
        var pidfdRaw: Int32 = -1
        // Without root the parent writes the child's id maps as an ordinary user, which needs the
        // child's /proc files to be owned by that user: both stay dumpable until the maps are
        // written (the child makes itself non-dumpable before anything of the workload runs).
        if configuration.rootless { _ = wd_prctl(Int32(WD_PR_SET_DUMPABLE), 1, 0, 0, 0) }
        let placement = cloneIntoCgroup == nil ? try sandboxCgroup?.enterCallingThread() : nil
        let pid = withUnsafePointer(to: childPlan.plan) { wd_spawn_sandbox($0, flags, cloneIntoCgroup?.raw ?? -1, &pidfdRaw) }
        let cloneError = SystemError.current("clone3(namespaces)")
        guard pid > 0 else {
            try placement?.restore()
            throw SandboxError.setup("clone", cloneError)
        }
        let pidfd = FileDescriptor(pidfdRaw)
        mark("clone")
        childEnd.close()
        childPlan.releaseTrees()
        workspaceNamespace?.close()

        do throws(SandboxError) {
            try writeIdentityMaps(pid: pid, identity: identity)
            if configuration.rootless { Host.hardenSelf() }
            try send(WD_MSG_GO, to: parentEnd)
            // Leave the sandbox's cgroup while the child builds its root.
            try placement?.restore()
        } catch {
            _ = wd_pidfd_send_signal(pidfd.raw, SIGKILL)
            var code: Int32 = 0, status: Int32 = 0
            _ = wd_waitid_pidfd(pidfd.raw, &code, &status)
            throw error
        }

        mark("start")
        let supervisor = RunSupervisor(
            control: parentEnd, pidfd: pidfd, signals: signals, resolver: resolver,
            timeoutSeconds: request.limits.timeoutSeconds, terminal: terminal.enabled ? (terminal.input, terminal.output) : nil,
            onTimeout: { [pidfdRaw = pidfd.raw, cgroup = UncheckedBox(cgroup)] in
                _ = wd_pidfd_send_signal(pidfdRaw, SIGKILL)
                cgroup.value?.killAll()
            })
        let result: SupervisionResult
        do throws(SandboxError) {
            result = try supervisor.run()
        } catch {
            _ = wd_pidfd_send_signal(pidfd.raw, SIGKILL)
            var code: Int32 = 0, status: Int32 = 0
            _ = wd_waitid_pidfd(pidfd.raw, &code, &status)
            throw error
        }
        // "run" splits into: the child's setup until the workload execs, the workload, and the
        // sandbox's teardown after it (pid 1 and its namespaces).
        // The messages and pid 1's exit are noticed in whatever order the loop reads them:
        // times are clamped so that each phase starts where the previous one ended.
        if let ready = result.readyAt, let exited = result.exitedAt, let gone = result.initExitedAt {
            let setupEnd = max(ready, phaseStart), workloadEnd = max(exited, setupEnd), exitEnd = max(gone, workloadEnd)
            manifest.phases.append(RunManifest.Phase(name: "sandbox-setup", milliseconds: Double(setupEnd - phaseStart) / 1e6))
            manifest.phases.append(RunManifest.Phase(name: "workload", milliseconds: Double(workloadEnd - setupEnd) / 1e6))
            manifest.phases.append(RunManifest.Phase(name: "sandbox-exit", milliseconds: Double(exitEnd - workloadEnd) / 1e6))
            phaseStart = min(exitEnd, monotonicNanoseconds())
            mark("collect")
        } else {
            mark("run")
        }
        return RunOutcomeBuilder(manifest: manifest, mounts: mounts, landlock: landlock, cgroup: cgroup,
                                 timeoutSeconds: request.limits.timeoutSeconds, memoryLimit: request.limits.memoryBytes,
                                 pidsLimit: request.limits.pids).outcome(for: result)
    }

    private func mountPlan(git: GitGuard, identity: IdentityPlan, userNamespace: FileDescriptor?) throws(SandboxError) -> MountPlan {
        try MountPlanBuilder(systemRoot: configuration.systemRoot, workspace: configuration.workspace,
                             workspaceUserNamespace: userNamespace, git: git,
                             readOnlyBinds: configuration.readOnlyBinds, readWriteBinds: configuration.readWriteBinds,
                             network: configuration.request.network, limits: configuration.request.limits,
                             ttyGroupMapped: identity.mode == .range,
                             hostBinds: configuration.rootless ? .child : .parent).build()
    }

    private func send(_ type: wd_msg_type, to channel: FileDescriptor) throws(SandboxError) {
        var message = wd_msg()
        message.type = UInt32(type.rawValue)
        guard wd_send_msg(channel.raw, &message, -1) == 0 else { throw SandboxError.setup("start the sandbox", .current("send")) }
    }

    private func writeIdentityMaps(pid: pid_t, identity: IdentityPlan) throws(SandboxError) {
        do {
            if identity.mode == .singleID {
                try Files.writeControl("/proc/\(pid)/setgroups", "deny")
            }
            try Files.writeControl("/proc/\(pid)/uid_map", identity.uidMap)
            try Files.writeControl("/proc/\(pid)/gid_map", identity.gidMap)
        } catch {
            throw SandboxError(.setupFailed, "user namespace id maps: \(error.description)", cause: error)
        }
    }

    // MARK: - Pieces

    /// CLONE_NEWUSER | NEWPID | NEWNS | NEWUTS | NEWIPC | NEWNET. The cgroup namespace is
    /// created by the child itself, after the parent has moved it into its cgroup, so that the
    /// namespace's root is the sandbox's own cgroup.
    static let namespaceFlags: UInt64 = 0x1000_0000 | 0x2000_0000 | 0x0002_0000 | 0x0400_0000 | 0x0800_0000 | 0x4000_0000

    static var seccompNotificationsAvailable: Bool {
        guard let actions = try? Files.readText("/proc/sys/kernel/seccomp/actions_avail") else { return false }
        return actions.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("user_notif")
    }

    struct TerminalPlan {
        var enabled: Bool
        var ptyMask: UInt32
        var nullMask: UInt32
        var input: Int32?
        var output: Int32
        var size: winsize
    }

    /// A pseudo-terminal when any standard stream is a terminal (auto); the caller's terminal
    /// itself is never handed in.
    static func terminalPlan(_ mode: TerminalMode) -> TerminalPlan {
        var mask: UInt32 = 0, directories: UInt32 = 0
        for fd: Int32 in 0...2 {
            if TerminalInfo.isTerminal(fd) { mask |= 1 << UInt32(fd) }
            // A directory handed in as a standard stream would be a path into the host's tree.
            var st = stat()
            if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { directories |= 1 << UInt32(fd) }
        }
        guard mask != 0 else { return TerminalPlan(enabled: false, ptyMask: 0, nullMask: directories, input: nil, output: 1, size: winsize()) }
        if mode == .never { return TerminalPlan(enabled: false, ptyMask: 0, nullMask: mask | directories, input: nil, output: 1, size: winsize()) }
        let output: Int32 = mask & 2 != 0 ? 1 : (mask & 4 != 0 ? 2 : 0)
        let input: Int32? = mask & 1 != 0 ? 0 : nil
        let size = TerminalInfo.windowSize(output) ?? winsize(ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0)
        return TerminalPlan(enabled: true, ptyMask: mask, nullMask: directories, input: input, output: output, size: size)
    }

    struct Limit {
        var name: String
        var resource: Int32
        var soft: UInt64
        var hard: UInt64
    }

    /// No core dumps; bounded open files; processes bounded per sandbox user as a second layer
    /// under the pids cgroup (the agent's host id is unique to the sandbox).
    static func rlimits(_ limits: ResourceLimits) -> [Limit] {
        var current = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &current)
        let hardFiles = min(limits.openFiles, UInt64(current.rlim_max))
        return [
            Limit(name: "core", resource: Int32(RLIMIT_CORE.rawValue), soft: 0, hard: 0),
            Limit(name: "nofile", resource: Int32(RLIMIT_NOFILE.rawValue), soft: min(1024, hardFiles), hard: hardFiles),
            Limit(name: "nproc", resource: Int32(__RLIMIT_NPROC.rawValue), soft: limits.pids, hard: limits.pids),
        ]
    }
}

/// Carries a non-Sendable reference into a @Sendable closure.
/// Safe here: the cgroup object is immutable after creation and its methods only touch files.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
