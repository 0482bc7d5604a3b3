import FoundationEssentials
import Glibc
import Policy
import Store
import WardenSystem

/// `warden agent start`, answered by the supervisor: decides by the policy whether the caller
/// may start an agent (and records the decision), fills what the caller left out from the
/// policy's defaults, checks the input, records the agent queued with the policy snapshot
/// (privacy locked), writes the prompt where only root and the agent's sandbox can read it,
/// and starts the agent's owner process. It answers at once; the agent runs on without it.
public struct AgentStartService: Sendable {
    public let home: String
    /// The secrets key file the owner process opens (kept apart from the home).
    public let keyFile: String
    public static let maxPromptBytes = 256 << 10

    public init(home: String, keyFile: String) {
        self.home = home
        self.keyFile = keyFile
    }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        let context: CallerPolicy
        do throws(SupervisorResponse.Failure) { context = try CallerPolicy.resolve(home: home, uid: callerUID) } catch { return error.response }
        let caller = context.caller, policy = context.policy, arguments = request.arguments
        let decision = context.evaluator.mayStartAgent(caller)
        if let refusal = context.record("agent start", decision) { return refusal }

        // The input, in the order a person would fix it.
        guard let prompt = request.input, !prompt.utf8.isEmpty else {
            return .failure(125, "warden: no prompt: pass --prompt TEXT or --prompt-file FILE (- for standard input)")
        }
        guard prompt.utf8.count <= Self.maxPromptBytes else { return .failure(125, "warden: the prompt is larger than 256 KiB") }
        let repository = arguments["repository"].flatMap { $0.isEmpty ? nil : $0 } ?? policy.defaults.repository
        guard !repository.isEmpty else {
            return .failure(125, "warden: no repository: pass --repo URL|PATH, or ask an admin to set defaults.repository")
        }
        guard repository.utf8.count <= 1024, !repository.hasPrefix("-"), !repository.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return .failure(125, "warden: repository \"\(stripTerminalControls(String(repository.prefix(80))))\": not a path or URL git can clone")
        }
        let baseBranch = arguments["branch"].flatMap { $0.isEmpty ? nil : $0 } ?? policy.defaults.branch
        guard AgentWorkspace.isValidBranch(baseBranch) else {
            return .failure(125, "warden: --branch \(stripTerminalControls(String(baseBranch.prefix(80)))): not a valid branch name")
        }
        let model = arguments["model"] ?? policy.defaults.model
        guard model.utf8.count <= 200, !model.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return .failure(125, "warden: --model: expected a model name of at most 200 printable characters")
        }
        let name = arguments["name"] ?? ""
        guard name.isEmpty || AgentRecord.isValidName(name) else {
            return .failure(125, "warden: --name \(stripTerminalControls(String(name.prefix(80)))): letters, digits, '-', '_' and '.', at most 64, not starting with '-' or '.'")
        }
        var command = policy.defaults.agentCommand
        if let encoded = arguments["command"] {
            guard let decoded = try? JSONDecoder().decode([String].self, from: Data(encoded.utf8)) else {
                return .failure(125, "warden: --command: not a list of arguments")
            }
            command = decoded
        }
        guard let program = command.first else {
            return .failure(125, "warden: no agent program: pass --command PROGRAM [ARGS...] or ask an admin to set defaults.agentCommand")
        }
        guard program.hasPrefix("/"), command.count <= 256, !command.contains(where: { $0.utf8.contains(0) }) else {
            return .failure(125, "warden: --command \(stripTerminalControls(String(program.prefix(80)))): the agent program must be an absolute path inside the sandbox")
        }
        guard let account = Host.account(of: callerUID) else {
            return .failure(125, "warden: uid \(callerUID) has no account in /etc/passwd; the repository is cloned as you")
        }
        if !AgentWorkspace.isRemote(repository) {
            do { try AgentWorkspace.checkLocalOrigin(repository, baseBranch: baseBranch, uid: callerUID, gid: account.gid, home: account.home) } catch {
                return .failure(125, "warden: \(stripTerminalControls(error.message))")
            }
        }
        if let why = DiskWatermark.shortfall(home: home, minimum: policy.sandbox.minFreeDisk) {
            return .failure(75, "warden: not started: \(why); free space or ask an admin")
        }

        let version = context.version
        let snapshot = context.evaluator.snapshot(newAgentOf: caller, policyVersion: version)
        let id = AgentLayout.newID()
        let record = AgentRecord(id: id, name: name, owner: caller.name, ownerUID: callerUID, repository: repository, baseBranch: baseBranch,
                                 model: model, command: command, privacy: snapshot.privacy, policyVersion: version, created: wallMilliseconds())
        let layout = AgentLayout(home: home)
        let store: AgentStore
        do {
            try layout.prepareRoots()
            store = try AgentStore(path: AgentStore.path(home: home))
        } catch let error as StoreError {
            return .failure(122, "warden: the agent store cannot be opened: \(error.message)")
        } catch {
            return .failure(122, "warden: Warden's home cannot be prepared: \(error)")
        }
        do { try store.create(record) } catch {
            return .failure(error.code == .conflict ? 125 : 122, "warden: \(error.message)")
        }
        do {
            try layout.prepareAgent(id, ownerUID: callerUID, ownerGID: account.gid)
            try Files.writeAtomically(layout.prompt(id), Array(prompt.utf8), mode: 0o644)
            try DetachedProcess.start(Self.executable(), ["agent-owner", "--home", home, "--key-file", keyFile, id],
                                      environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"], logPath: layout.ownerLog(id))
        } catch {
            _ = try? store.transition(id, to: .failed, reason: "the agent could not be started: \(error.description)", at: wallMilliseconds())
            return .failure(122, "warden: agent \(id) could not be started: \(error.description)")
        }
        let summary = "agent \(id) queued: \(record.branch) from \(baseBranch) of \(repository), privacy \(snapshot.privacy ? "on" : "off") (\(snapshot.privacyRule))"
        return SupervisorResponse(output: id + "\n", error: "warden: " + stripTerminalControls(summary) + "\n")
    }

    /// This program, to start the owner process with (the same build as the supervisor).
    static func executable() -> String {
        if let path = Files.readLink("/proc/self/exe"), path.hasPrefix("/"), !path.hasSuffix(" (deleted)") { return path }
        return "/proc/self/exe"
    }
}
