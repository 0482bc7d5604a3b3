import Glibc
import Policy
import Sandbox
import Store
import WardenSystem

/// The owner process of one agent (R17): started detached by the supervisor, it outlives a
/// supervisor restart and holds, for the agent's whole life, its sandbox, its network guard
/// and audit writer, and its log. It clones the repository as the developer, runs the agent
/// program sealed under the policy snapshot taken at start, commits and hands the branch off,
/// applies the privacy mode, and moves the agent through its states with a reason each time.
///
/// Signals: SIGUSR1 (a follow-up arrived) and SIGTERM (stop) reach the agent program through
/// the sandbox's pid 1. They are blocked from the first instruction so that one sent while the
/// repository is being cloned waits instead of killing this process.
public final class AgentOwner {
    let id: String
    let layout: AgentLayout
    let keys: any SecretKeyProvider
    let store: AgentStore
    /// The policy snapshot the agent started under, once read (the webhook uses it at the end).
    var startPolicy: OrgPolicy?
    /// Builds only this agent uses (a snapshot not kept, a $HOME layer not published): removed
    /// when it ends.
    var scratchDirectories: [String] = []

    public init(id: String, home: String, keys: any SecretKeyProvider) throws(StoreError) {
        self.id = id
        layout = AgentLayout(home: home)
        self.keys = keys
        store = try AgentStore(path: AgentStore.path(home: home))
    }

    /// Runs the agent to its end; the exit status says only whether this process could do its
    /// job (the agent's own outcome is its state).
    public func run() -> Int32 {
        guard let me = ProcessIdentity.current() else { return report("cannot read this process's own start time") }
        let ownerRecord = OwnerRecord(owner: me)
        do { try ownerRecord.write(layout.ownerFile(id)) } catch { return report("cannot write \(layout.ownerFile(id)): \(error.description)") }
        let record: AgentRecord
        do {
            guard let found = try store.get(id) else { return report("no agent \(id) in the store") }
            record = found
        } catch { return report("the agent store cannot be read: \(error.message)") }
        guard record.state == .queued else { return report("agent \(id) is \(record.state.rawValue), not queued: nothing to do") }

        // Everything below ends in a terminal state with a reason; nothing returns early.
        let ending = drive(record, ownerRecord: ownerRecord)
        // Before the final state, so that whoever sees it sees no build of this agent left.
        for directory in scratchDirectories where Files.lstat(directory) != nil {
            do { try RetentionSweep.removeTree(directory) } catch {
                try? store.note(id, "snapshot: a build only this agent used cannot be removed: \(error.description)", at: wallMilliseconds())
            }
        }
        finish(record, ending)
        // A snapshot's retention counts from the end of the last agent that used it.
        if let key = (try? Files.readText(layout.snapshotKey(id), limit: 4096))?.split(separator: "\n").first {
            SnapshotStore(home: layout.home).touch(String(key), now: wallMilliseconds())
        }
        notify(record)
        return 0
    }

    struct Ending: Error {
        var state: AgentState
        var reason: String
    }

    private func drive(_ record: AgentRecord, ownerRecord: OwnerRecord) -> Ending {
        guard transition(.preparing, "cloning \(record.repository) (\(record.baseBranch)) as \(record.owner)") else {
            return Ending(state: .failed, reason: "the agent store refused the move to preparing")
        }
        let policy: OrgPolicy
        do { policy = try PolicyService(home: layout.home, callerUID: 0).version(record.policyVersion) } catch {
            return Ending(state: .failed, reason: "the policy snapshot (version \(record.policyVersion)) cannot be read: \(error.message)")
        }
        startPolicy = policy
        guard let account = Host.account(of: record.ownerUID) else {
            return Ending(state: .failed, reason: "uid \(record.ownerUID) has no account in /etc/passwd to clone as")
        }
        let cloneStarted = monotonicNanoseconds()
        let baseCommit: String?
        do {
            baseCommit = try AgentWorkspace.prepare(repository: record.repository, baseBranch: record.baseBranch, branch: record.branch,
                                           directory: layout.checkout(id), uid: record.ownerUID, gid: account.gid, home: account.home).baseCommit
        } catch {
            return Ending(state: .failed, reason: error.message)
        }
        // The clone's own time, apart from the launch's (`make bench` reports them separately).
        try? store.note(id, "workspace ready: cloned in \((monotonicNanoseconds() - cloneStarted) / 1_000_000) ms", at: wallMilliseconds())
        if let stop = stopRequest() { return Ending(state: .stopped, reason: stop) }

        let environment: AgentEnvironment?
        let environmentText: String
        switch readEnvironment(record, policy: policy) {
        case .failure(let ending): return ending
        case .success(let read): (environment, environmentText) = (read?.environment, read?.text ?? "")
        }
        let terminals = AgentTerminal.sessions(for: environment?.terminals ?? [])
        let given: [GivenSecret]
        do { given = try AgentSecrets.load(home: layout.home, keys: keys, owner: record.owner, repository: record.repository) } catch {
            return Ending(state: .failed, reason: "the secrets cannot be opened: \(error.message)")
        }
        let secrets = given.map { (name: $0.name, value: $0.value) }
        let layers: EnvironmentLayers
        switch environmentLayers(record, environment: environment, environmentText: environmentText, policy: policy, secrets: given) {
        case .failure(let ending): return ending
        case .success(let result): layers = result
        }
        let plan: AgentSandboxPlan
        do {
            plan = try AgentSandboxPlan.agent(record, policy: policy, layout: layout, secrets: given, start: environment?.start,
                                              terminals: terminals, overlays: layers.overlays, egressAllowlist: environment?.egressPatterns)
        } catch {
            return Ending(state: .failed, reason: error.message)
        }
        guard transition(.running, "the agent program runs sealed (network \(plan.request.network.rawValue), privacy \(record.privacy ? "on" : "off"))") else {
            return Ending(state: .failed, reason: "the agent store refused the move to running")
        }
        let outcome: RunOutcome
        switch runServed(plan, session: AgentSession(terminals: terminals, ports: environment?.ports ?? []), ownerRecord: ownerRecord, secrets: secrets) {
        case .failure(let ending): return ending
        case .success(let result): outcome = result
        }
        var ending = Self.ending(outcome, stop: stopRequest())
        if let updating = layers.updating, let prepared = layers.prepared {
            keepUpdate(updating, on: prepared, ending: ending, outcome: outcome, canaries: plan.guardPlan?.canaries, secrets: given)
        }
        if let failure = handOff(record, policy: policy, account: account) {
            ending = Ending(state: ending.state == .finished ? .failed : ending.state, reason: ending.reason + "; " + failure)
        } else {
            ending.reason += "; branch \(record.branch) pushed to \(record.repository)"
        }
        summarize(record, base: baseCommit, account: account, network: outcome.manifest.network)
        return ending
    }

    /// Runs the agent's sandbox with its control socket served (attach, terminals, ports) for
    /// exactly as long as the sandbox runs.
    private func runServed(_ plan: AgentSandboxPlan, session: AgentSession, ownerRecord: OwnerRecord,
                           secrets: [(name: String, value: String)]) -> Result<RunOutcome, Ending> {
        let control: SupervisorServer
        do { control = try SupervisorServer(socketPath: layout.controlSocket(id), handler: session, mode: 0o600) } catch {
            return .failure(Ending(state: .failed, reason: "the agent's control socket cannot be made: \(error.description)"))
        }
        let serving = BackgroundWork<Void>.onOwnThread { control.run() }
        defer {
            session.ended()
            control.stop()
            serving?.wait()
        }
        do {
            return .success(try runCaptured(plan, secrets: secrets) { [layout, id] pid, spawner in
                // Recorded so that a restarted supervisor can kill the sandbox if this process dies.
                var updated = ownerRecord
                updated.sandbox = ProcessIdentity.of(pid)
                try? updated.write(layout.ownerFile(id))
                session.started(pid: pid, spawner: spawner)
            })
        } catch {
            return .failure(Ending(state: .failed, reason: "the agent's log cannot be captured: \(error.description)"))
        }
    }

    /// How the agent's sandbox ended, as its state.
    static func ending(_ outcome: RunOutcome, stop: String?) -> Ending {
        if let stop { return Ending(state: .stopped, reason: stop) }
        if let detection = outcome.manifest.network?.stoppedBy { return Ending(state: .stopped, reason: detection) }
        let exit = outcome.manifest.exit
        switch exit.reason {
        case "exited" where exit.code == 0: return Ending(state: .finished, reason: "the agent program exited 0")
        case "exited": return Ending(state: .failed, reason: "the agent program exited \(exit.code ?? -1)")
        case "timeout": return Ending(state: .expired, reason: "the sandbox's time limit passed; it was killed")
        case "signaled": return Ending(state: .failed, reason: "the agent program was killed by \(exit.signal ?? "a signal")")
        default: return Ending(state: .failed, reason: "the sandbox failed (\(exit.reason)): \(outcome.message ?? "no detail")")
        }
    }

    /// Runs a sandbox with its standard output and error captured into the agent's log.
    func runCaptured(_ plan: AgentSandboxPlan, secrets: [(name: String, value: String)],
                             onStarted: ((Int32, SandboxSpawner?) -> Void)? = nil) throws(SystemError) -> RunOutcome {
        var values: [String: String] = [:]
        for secret in secrets { values[secret.name] = secret.value }
        let capture = try AgentLogCapture(logPath: layout.log(id), secrets: values)
        // The sandbox inherits descriptors 1 and 2; this process's own messages go back to its
        // own log once the sandbox has ended.
        let savedOutput = dup(1), savedError = dup(2)
        dup2(capture.writeEnd.raw, 1)
        dup2(capture.writeEnd.raw, 2)
        let outcome = launch(plan, onStarted: onStarted)
        dup2(savedOutput, 1)
        dup2(savedError, 2)
        close(savedOutput)
        close(savedError)
        capture.finish()
        return outcome
    }

    private func launch(_ plan: AgentSandboxPlan, onStarted: ((Int32, SandboxSpawner?) -> Void)?) -> RunOutcome {
        let profile = plan.request.shippedProfileName
        let configuration: RunConfiguration
        do {
            configuration = try RunConfiguration.validate(plan.request, paths: WardenPaths.forCurrentUser(),
                                                          defaultProfile: { () throws(SandboxError) in try PolicyLocator.seccompProfile(named: profile) })
        } catch {
            var manifest = RunManifest(runID: id, started: rfc3339Now(), command: plan.request.command, workspace: plan.request.workspace ?? "")
            manifest.exit.reason = "setup-failed"
            return RunOutcome(exitStatus: WardenExitCode.code(for: error), message: error.message, manifest: manifest)
        }
        let launcher = SandboxLauncher(configuration: configuration, runID: id)
        if let guardPlan = plan.guardPlan { launcher.network = GuardAttachment(plan: guardPlan) }
        let spawner = launcher.spawner
        launcher.onStarted = { pid in onStarted?(pid, spawner) }
        return launcher.run()
    }

    /// Commits what the agent left (inside a sandbox) and pushes the branch; nil when done,
    /// else why not (the work stays in the workspace and the handoff repository).
    private func handOff(_ record: AgentRecord, policy: OrgPolicy, account: (gid: UInt32, home: String)) -> String? {
        let plan = AgentSandboxPlan.handoff(record, policy: policy, layout: layout)
        let outcome: RunOutcome
        do { outcome = try runCaptured(plan, secrets: []) } catch {
            return "the handoff's log cannot be captured: \(error.description); the work is kept in \(layout.workspace(id))"
        }
        guard outcome.manifest.exit.reason == "exited", outcome.manifest.exit.code == 0 else {
            return "the work could not be committed inside the sandbox (\(Self.ending(outcome, stop: nil).reason)); it is kept in \(layout.workspace(id))"
        }
        let handoff = AgentHandoff(layout: layout, id: id, branch: record.branch, origin: record.repository,
                                   uid: record.ownerUID, gid: account.gid, home: account.home)
        do { try handoff.run() } catch {
            return "push failed: \(error.message); the work is kept in \(layout.handoff(id))"
        }
        return nil
    }

    /// Records what the agent changed (when its branch reached the handoff repository) and what
    /// its sandbox sent; a summary that cannot be made is noted, never invented.
    private func summarize(_ record: AgentRecord, base: String?, account: (gid: UInt32, home: String), network: RunManifest.NetworkSummary?) {
        var summary = AgentSummary(shortStat: "unknown", diffStat: "", snippets: nil, network: network)
        if let base, Files.lstat(layout.handoff(id)) != nil,
           let changes = AgentSummary.changes(repository: layout.handoff(id), base: base, branch: record.branch, scratch: layout.checkout(id),
                                              uid: record.ownerUID, gid: account.gid, home: account.home, snippets: !record.privacy) {
            (summary.shortStat, summary.diffStat, summary.snippets) = changes
        } else {
            try? store.note(id, "summary: the changes could not be summarized (the branch did not reach the handoff repository)", at: wallMilliseconds())
        }
        do { try summary.write(layout.summary(id)) } catch {
            try? store.note(id, "summary: cannot be written: \(error.description)", at: wallMilliseconds())
        }
    }

    /// The repository's environment (nil: it has none), after reporting what this host does
    /// not honour.
    private func readEnvironment(_ record: AgentRecord, policy: OrgPolicy) -> Result<(environment: AgentEnvironment, text: String)?, Ending> {
        // The clone is the repository's content: `.cursor` may be a link anywhere. Opened
        // beneath the workspace, following no link (R14), and only a regular file.
        let text: String
        do {
            let workspace = try FileDescriptor.open(layout.workspace(id), O_RDONLY | O_DIRECTORY, resolve: .noLinks)
            let file = try FileDescriptor.open(at: workspace.raw, ".cursor/environment.json", O_RDONLY | O_NONBLOCK,
                                               resolve: [.beneath, .noSymlinks, .noMagicLinks, .noCrossingMounts])
            var st = stat()
            guard fstat(file.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                return .failure(Ending(state: .failed, reason: ".cursor/environment.json is not a regular file"))
            }
            text = String(decoding: try file.readAll(limit: 1 << 20), as: UTF8.self)
        } catch where error.errno == ENOENT {
            return .success(nil)
        } catch {
            return .failure(Ending(state: .failed, reason: ".cursor/environment.json cannot be read: \(error.description)"))
        }
        let environment: AgentEnvironment
        do { environment = try EnvironmentReader.read(text) } catch {
            return .failure(Ending(state: .failed, reason: "bad environment: \(error.description)"))
        }
        for notice in EnvironmentSupport.notices(environment, snapshotUpdates: policy.sandbox.agentSnapshotUpdates) { try? store.note(id, "environment.json: " + notice.description, at: wallMilliseconds()) }
        return .success((environment, text))
    }

    /// The external channel, when the policy the agent started under names one.
    private func notify(_ record: AgentRecord) {
        guard let policy = startPolicy, !policy.security.webhook.isEmpty, let ended = try? store.get(id) else { return }
        let notice = AgentWebhook.notice(ended, summary: AgentSummary.read(layout.summary(id)), policy: policy)
        try? store.note(id, AgentWebhook.deliver(notice, to: policy.security.webhook), at: wallMilliseconds())
    }

    /// Who asked the agent to stop, once someone did.
    func stopRequest() -> String? {
        guard let text = try? Files.readText(layout.stopFile(id), limit: 4096), !text.isEmpty else { return nil }
        return text.split(separator: "\n").first.map(String.init) ?? text
    }

    func transition(_ state: AgentState, _ reason: String) -> Bool {
        do { try store.transition(id, to: state, reason: reason, at: wallMilliseconds()) } catch {
            printError("warden agent-owner \(id): \(error.message)")
            return false
        }
        return true
    }

    /// The terminal state, then what privacy mode says to delete.
    private func finish(_ record: AgentRecord, _ ending: Ending) {
        _ = transition(ending.state, ending.reason)
        guard record.privacy else { return }
        var removed: [String] = []
        for (path, what) in [(layout.inbox(id), "prompt, follow-ups"), (layout.log(id), "log")] {
            do { try RetentionSweep.removeTree(path); removed.append(what) } catch {
                try? store.note(id, "privacy mode: \(what) could not be deleted: \(error.description)", at: wallMilliseconds())
            }
        }
        if !removed.isEmpty { try? store.note(id, "privacy mode: \(removed.joined(separator: ", ")) deleted at completion", at: wallMilliseconds()) }
    }

    private func report(_ message: String) -> Int32 {
        printError("warden agent-owner \(id): \(message)")
        return 1
    }
}
