import CWardenShim
import Glibc
import WardenSystem

/// The result of `warden run`: Warden's exit status, the one line to print (if any), and the
/// manifest.
public struct RunOutcome: Sendable {
    public var exitStatus: Int32
    public var message: String?
    public var manifest: RunManifest

    public init(exitStatus: Int32, message: String?, manifest: RunManifest) {
        self.exitStatus = exitStatus
        self.message = message
        self.manifest = manifest
    }
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
    private var cgroupWork: BackgroundWork<Result<SandboxCgroup, SandboxError>>?
    private var phaseStart = monotonicNanoseconds()
    /// The network guard for guarded modes (set by the caller before `run`).
    public var network: (any NetworkAttachment)?
    private var networkAttached = false
    /// Called once the sandbox's pid 1 has been let go, with its host pid: an agent's owner
    /// process records it, so that the sandbox can be found again after a restart.
    public var onStarted: ((Int32) -> Void)?
    /// Forks processes inside the sandbox while it runs, when the request allows it.
    public let spawner: SandboxSpawner?

    /// Records the time since the previous mark under `name`.
    private func mark(_ name: String) {
        let now = max(monotonicNanoseconds(), phaseStart)
        manifest.phases.append(RunManifest.Phase(name: name, milliseconds: Double(now - phaseStart) / 1e6))
        phaseStart = now
    }

    /// `started`: when the process began handling the run (monotonic ns), so the manifest's
    /// phases also show the time spent before the launcher (start-up, validation).
    /// `runID`: the run's name in the manifest and the audit log (default: a random one; an
    /// agent's runs carry the agent's id).
    public init(configuration: RunConfiguration, started: UInt64? = nil, runID: String? = nil) {
        self.configuration = configuration
        spawner = configuration.request.allowsSpawn ? SandboxSpawner() : nil
        let runID = runID ?? hexString(Host.randomBytes(8))
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
        if let network, networkAttached {
            outcome.manifest.network = network.detach(refusedSockets: outcome.manifest.refusedSockets)
            if let failure = outcome.manifest.network?.auditFailure {
                outcome.manifest.warnings.append("network: \(failure)")
            }
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
                let note = "warden: undid git changes from the sandbox that would run its code under your git: " + findings.joined(separator: "; ")
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
        manifest.layers.namespaces = ["user", "pid", "mount", "uts", "ipc", "net", "cgroup"]
        manifest.layers.network = request.network.rawValue
        let available = try refuseMissingLayers()
        let identity = try prepareIdentity()
        mark("identity")
        if try requireCgroups() { startCgroupCreation(slot: identity.slot) }
        defer { _ = try? awaitCgroup() }
        mark("cgroups")
        let seccomp = try prepareSeccomp(available: available.seccomp)
        let landlock = prepareLandlock(abi: available.landlockABI)
        mark("landlock")
        var workspaceNamespace = identity.mode == .range ? try identity.makeWorkspaceUserNamespace() : nil
        mark("idmap-namespace")
        let mounts = try prepareFileSystem(identity: identity, workspaceNamespace: &workspaceNamespace)
        mark("mount-plan")
        let terminal = Self.terminalPlan(request.terminal)
        manifest.layers.terminal = terminal.enabled ? "pty" : (terminal.nullMask != 0 ? "detached" : "none")
        let rlimits = Self.rlimits(request.limits)
        for limit in rlimits { manifest.layers.rlimits[limit.name] = [limit.soft, limit.hard] }

        let sandbox = try spawn(identity: identity, mounts: mounts, landlock: landlock, seccomp: seccomp, terminal: terminal,
                                rlimits: rlimits, workspaceNamespace: workspaceNamespace)
        defer { sandbox.signals.restore() }
        mark("start")
        let result = try supervise(sandbox, resolver: seccomp.resolver, terminal: terminal)
        recordSandboxPhases(result)
        return RunOutcomeBuilder(manifest: manifest, mounts: mounts, landlock: landlock, cgroup: cgroup,
                                 timeoutSeconds: request.limits.timeoutSeconds, memoryLimit: request.limits.memoryBytes,
                                 pidsLimit: request.limits.pids).outcome(for: result)
    }

    /// Refuses a missing layer before anything is created (fail closed), unless given up.
    private func refuseMissingLayers() throws(SandboxError) -> (seccomp: Bool, landlockABI: Int) {
        let degraded = configuration.request.allowDegraded
        let seccomp = Self.seccompNotificationsAvailable
        if !seccomp && !degraded.contains(.seccomp) {
            throw SandboxError(.layerUnavailable, "seccomp user notification is not available on this kernel (run `warden doctor`); pass --allow-degraded seccomp to run without a syscall filter")
        }
        let abi = LandlockPlan.kernelABI
        if abi == 0 && !degraded.contains(.landlock) {
            throw SandboxError(.layerUnavailable, "Landlock is not available on this kernel (run `warden doctor`); pass --allow-degraded landlock to run without it")
        }
        if !seccomp { manifest.degraded.append(Layer.seccomp.rawValue) }
        if abi == 0 { manifest.degraded.append(Layer.landlock.rawValue) }
        return (seccomp, abi)
    }

    /// R5: a private range of host ids (root), or only the caller's own id when given up.
    private func prepareIdentity() throws(SandboxError) -> IdentityPlan {
        if configuration.rootless {
            guard configuration.request.allowDegraded.contains(.identity) else {
                throw SandboxError(.layerUnavailable, "a private range of host ids needs root; pass --allow-degraded identity to map only your own id")
            }
            manifest.degraded.append(Layer.identity.rawValue)
            return .singleID(workspaceOwner: configuration.workspaceOwner)
        }
        let slot = try IdSlot.acquire(pool: .configured(), runtimeDirectory: configuration.paths.runtime)
        self.slot = slot
        return .range(slot: slot, workspaceOwner: configuration.workspaceOwner)
    }

    /// Creates the sandbox's cgroup on a helper thread while the rest is prepared.
    private func startCgroupCreation(slot: Int) {
        let request = configuration.request, hierarchy = CgroupHierarchy.current
        let name = "slot-\(slot)", limits = request.limits
        cgroupWork = BackgroundWork {
            Result { () throws(SandboxError) in try SandboxCgroup.create(hierarchy: hierarchy, name: name, limits: limits) }
        }
        manifest.layers.cgroups = RunManifest.Cgroups(version: hierarchy.version ?? 0, path: "", memoryBytes: limits.memoryBytes,
                                                      pids: limits.pids, cpus: limits.cpus)
    }

    /// Waits for the helper thread: the cgroup exists (nil when cgroups were given up).
    private func awaitCgroup() throws(SandboxError) -> SandboxCgroup? {
        guard let work = cgroupWork else { return cgroup }
        cgroupWork = nil
        let created = try work.wait().get()
        cgroup = created
        manifest.layers.cgroups?.path = created.displayPath
        manifest.warnings += created.warnings
        return created
    }

    /// Refuses a run without cgroups unless given up; true when the sandbox gets one.
    private func requireCgroups() throws(SandboxError) -> Bool {
        let hierarchy = CgroupHierarchy.current
        if !configuration.rootless && hierarchy.version != nil { return true }
        guard configuration.request.allowDegraded.contains(.cgroups) else {
            let why: String
            if case .unavailable(let reason) = hierarchy { why = reason } else { why = "creating cgroups needs root or a delegated cgroup v2 subtree" }
            throw SandboxError(.layerUnavailable, "cgroups: \(why); pass --allow-degraded cgroups to run without memory, pids and CPU limits")
        }
        manifest.degraded.append(Layer.cgroups.rawValue)
        return false
    }

    struct SeccompLayer {
        var main: CompiledFilter?
        var baseline: CompiledFilter?
        var resolver: LazyDenialResolver?
    }

    /// The profile's filter (with the baseline intersected in) and, for a user's profile, the
    /// baseline as a separate filter it cannot touch.
    private func prepareSeccomp(available: Bool) throws(SandboxError) -> SeccompLayer {
        guard available else { return SeccompLayer() }
        let userProfile = configuration.request.seccompProfile != nil
        let context = FilterPlan.Context.current
        let prepared = try SeccompPreparation.prepare(
            profileBytes: configuration.profileBytes, profileSHA256: configuration.profileSHA256,
            source: configuration.profileSource, context: context, cacheDirectory: configuration.paths.home + "/cache/seccomp")
        manifest.layers.seccomp = RunManifest.Seccomp(
            profile: configuration.profileName, source: configuration.profileSource, sha256: configuration.profileSHA256,
            rules: prepared.main.ruleCount, instructions: prepared.main.instructions.count, baselineVersion: SeccompBaseline.version,
            baselineRules: prepared.baseline.ruleCount, filters: userProfile ? 2 : 1, libseccomp: SyscallTable.libraryVersion,
            ignoredSyscalls: prepared.ignoredSyscalls)
        mark(prepared.fromCache ? "seccomp (cached)" : "seccomp (compiled)")
        return SeccompLayer(main: prepared.main, baseline: userProfile ? prepared.baseline : nil,
                            resolver: LazyDenialResolver(bytes: configuration.profileBytes, source: configuration.profileSource, context: context))
    }

    private func prepareLandlock(abi: Int) -> LandlockPlan? {
        guard abi > 0 else { return nil }
        let landlock = LandlockPlan.make(abi: abi, workspace: MountPlanBuilder.workspaceTarget, home: GeneratedEtc.agentHome,
                                         writable: configuration.readWriteBinds.map(\.target)
                                             + configuration.request.overlays.filter { $0.upper != .none }.map(\.target),
                                         readable: configuration.readOnlyBinds.map(\.target))
        manifest.layers.landlock = RunManifest.Landlock(
            abi: landlock.abi, handledAccess: LandlockPlan.accessNames(landlock.handledAccess), scopes: landlock.scopeNames,
            rules: landlock.rules.map { RunManifest.Landlock.Rule(path: $0.path, access: LandlockPlan.accessNames($0.access)) })
        return landlock
    }

    /// The mount plan; falls back to a plain workspace (degraded identity, when allowed) if its
    /// file system cannot be idmapped.
    private func prepareFileSystem(identity: IdentityPlan, workspaceNamespace: inout FileDescriptor?) throws(SandboxError) -> MountPlan {
        let git = GitGuard.inspect(workspace: configuration.workspace)
        var mounts: MountPlan
        do {
            mounts = try mountPlan(git: git, identity: identity, userNamespace: workspaceNamespace)
        } catch where workspaceNamespace != nil && error.cause?.step.hasPrefix("mount_setattr") == true {
            guard configuration.request.allowDegraded.contains(.identity) else {
                throw SandboxError(.layerUnavailable, "the file system of \(configuration.workspace) does not support idmapped mounts (\(error.cause?.reason ?? "")); pass --allow-degraded identity to run without one")
            }
            manifest.degraded.append(Layer.identity.rawValue)
            workspaceNamespace = nil
            mounts = try mountPlan(git: git, identity: identity, userNamespace: nil)
        }
        // Audited after the run: only once the workspace passed inspection.
        self.git = git
        manifest.layers.mounts = mounts.records
        manifest.layers.identity = RunManifest.Identity(
            mode: identity.mode.rawValue, hostIDBase: identity.mode == .range ? identity.hostBase : nil,
            hostIDCount: identity.mode == .range ? IdentityPlan.rangeSize : nil, workloadUID: IdentityPlan.agentID,
            workloadHostUID: identity.mode == .range ? identity.hostBase + IdentityPlan.agentID : identity.callerUID,
            workspaceOwnerUID: identity.workspaceOwnerUID, idmappedWorkspace: workspaceNamespace != nil)
        return mounts
    }

    /// A started sandbox: its pid 1, the control channel and the signals blocked for it.
    struct Started {
        let pidfd: FileDescriptor
        let control: FileDescriptor
        let signals: SignalChannel
    }

    /// Clones the sandbox (born in its cgroup), maps its ids and lets it build itself.
    private func spawn(identity: IdentityPlan, mounts: MountPlan, landlock: LandlockPlan?, seccomp: SeccompLayer,
                       terminal: TerminalPlan, rlimits: [Limit], workspaceNamespace: FileDescriptor?) throws(SandboxError) -> Started {
        let request = configuration.request
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
        var started = false
        defer { if !started { signals.restore() } }

        // The sandbox is born in its cgroup: on v2 through CLONE_INTO_CGROUP, on v1 by cloning
        // from this thread while it stands in the sandbox's cgroup (see enterCallingThread).
        let sandboxCgroup = try awaitCgroup()
        let cloneIntoCgroup = sandboxCgroup?.directoryForClone()
        let childPlan = try ChildPlan(ChildPlan.Inputs(
            controlFD: childEnd.raw, identity: identity, newCgroupNamespace: sandboxCgroup != nil, mounts: mounts,
            landlock: landlock, seccompBaseline: seccomp.baseline, seccompMain: seccomp.main,
            terminal: (terminal.enabled, terminal.ptyMask, terminal.size), nullStdioMask: terminal.nullMask,
            rlimits: rlimits.map { ($0.resource, $0.soft, $0.hard) }, argv: request.command,
            environment: configuration.environment,
            execPath: configuration.environment.first { $0.0 == "PATH" }?.1 ?? RunConfiguration.defaultPath,
            workingDirectory: MountPlanBuilder.workspaceTarget, spawnEnabled: request.allowsSpawn, profile: request.profile))

        // Without root the parent writes the child's id maps as an ordinary user, which needs the
        // child's /proc files to be owned by that user: both stay dumpable until the maps are
        // written (the child makes itself non-dumpable before anything of the workload runs).
        if configuration.rootless { _ = wd_prctl(Int32(WD_PR_SET_DUMPABLE), 1, 0, 0, 0) }
        let placement = cloneIntoCgroup == nil ? try sandboxCgroup?.enterCallingThread() : nil
        var pidfdRaw: Int32 = -1
        let pid = withUnsafePointer(to: childPlan.plan) { wd_spawn_sandbox($0, Self.namespaceFlags, cloneIntoCgroup?.raw ?? -1, &pidfdRaw) }
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

        // The child waits for GO: its ids must be mapped first.
        do throws(SandboxError) {
            try writeIdentityMaps(pid: pid, identity: identity)
            if configuration.rootless { Host.hardenSelf() }
            if let network, request.network.guarded {
                // The guard's threads must not start inside the sandbox's cgroup (on v1 a thread
                // inherits its creator's): leave it first.
                try placement?.restore()
                let hostIDs = identity.mode == .range ? identity.hostBase...(identity.hostBase + IdentityPlan.rangeSize - 1) : nil
                try network.attach(pid: pid, runID: manifest.runID, hostIDs: hostIDs)
                networkAttached = true
                mark("network-guard")
            }
            try send(WD_MSG_GO, to: parentEnd)
            // Leave the sandbox's cgroup while the child builds its root.
            try placement?.restore()
            onStarted?(pid)
        } catch {
            Self.killAndReap(pidfd)
            // Never stay in the sandbox's cgroup: the teardown freezes and kills it.
            try? placement?.restore()
            throw error
        }
        started = true
        return Started(pidfd: pidfd, control: parentEnd, signals: signals)
    }

    private func supervise(_ sandbox: Started, resolver: LazyDenialResolver?, terminal: TerminalPlan) throws(SandboxError) -> SupervisionResult {
        let supervisor = RunSupervisor(
            control: sandbox.control, pidfd: sandbox.pidfd, signals: sandbox.signals, resolver: resolver, spawner: spawner,
            timeoutSeconds: configuration.request.limits.timeoutSeconds,
            terminal: terminal.enabled ? (terminal.input, terminal.output) : nil,
            // UncheckedBox: the cgroup object is immutable after creation; its methods only touch files.
            onTimeout: { [pidfdRaw = sandbox.pidfd.raw, cgroup = UncheckedBox(cgroup)] in
                _ = wd_pidfd_send_signal(pidfdRaw, SIGKILL)
                cgroup.value?.killAll()
            })
        do throws(SandboxError) {
            return try supervisor.run()
        } catch {
            Self.killAndReap(sandbox.pidfd)
            throw error
        }
    }

    private static func killAndReap(_ pidfd: FileDescriptor) {
        _ = wd_pidfd_send_signal(pidfd.raw, SIGKILL)
        var code: Int32 = 0, status: Int32 = 0
        _ = wd_waitid_pidfd(pidfd.raw, &code, &status)
    }

    /// Splits "run" into the child's setup until the workload execs, the workload, and the
    /// sandbox's teardown (pid 1 and its namespaces). The loop notices the messages and pid 1's
    /// exit in whatever order it reads them: times are clamped so each phase starts where the
    /// previous one ended.
    private func recordSandboxPhases(_ result: SupervisionResult) {
        guard let ready = result.readyAt, let exited = result.exitedAt, let gone = result.initExitedAt else {
            mark("run")
            return
        }
        let setupEnd = max(ready, phaseStart), workloadEnd = max(exited, setupEnd), exitEnd = max(gone, workloadEnd)
        manifest.phases.append(RunManifest.Phase(name: "sandbox-setup", milliseconds: Double(setupEnd - phaseStart) / 1e6))
        manifest.phases.append(RunManifest.Phase(name: "workload", milliseconds: Double(workloadEnd - setupEnd) / 1e6))
        manifest.phases.append(RunManifest.Phase(name: "sandbox-exit", milliseconds: Double(exitEnd - workloadEnd) / 1e6))
        phaseStart = min(exitEnd, monotonicNanoseconds())
        mark("collect")
    }

    private func mountPlan(git: GitGuard, identity: IdentityPlan, userNamespace: FileDescriptor?) throws(SandboxError) -> MountPlan {
        try MountPlanBuilder(systemRoot: configuration.systemRoot, workspace: configuration.workspace,
                             workspaceUserNamespace: userNamespace, git: git,
                             readOnlyBinds: configuration.readOnlyBinds, readWriteBinds: configuration.readWriteBinds,
                             network: configuration.request.network, limits: configuration.request.limits,
                             ttyGroupMapped: identity.mode == .range,
                             hostBinds: configuration.rootless ? .child : .parent,
                             overlays: configuration.request.overlays, identity: identity,
                             generatedFiles: configuration.request.generatedFiles,
                             packageAccounts: configuration.request.profile == .install).build()
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
