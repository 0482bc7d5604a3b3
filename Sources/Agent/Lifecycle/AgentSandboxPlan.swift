import NetGuard
import Policy
import Sandbox
import Store
import WardenSystem

/// The sandbox an agent runs in, from the policy snapshot it started under: the clone at
/// /workspace, the inbox read-only and the outbox writable under /agent, the organisation's
/// limits, seccomp profile and network mode, and the contract's variables. Only code sets
/// `allowBroadWorkspace` here: the workspace lies inside Warden's home because the supervisor
/// made it there, not because anyone asked for it.
struct AgentSandboxPlan {
    var request: SandboxRequest
    var guardPlan: GuardPlan?

    /// The variables the agent program's contract names (README: "The agent program").
    static func contract(_ record: AgentRecord) -> [(name: String, value: String)] {
        [("WARDEN_AGENT_ID", record.id),
         ("WARDEN_PROMPT_FILE", AgentLayout.sandboxInbox + "/prompt"),
         ("WARDEN_FOLLOWUPS_DIR", AgentLayout.sandboxInbox + "/followups"),
         ("WARDEN_STATUS_FILE", AgentLayout.sandboxOutbox + "/status"),
         ("WARDEN_MODEL", record.model),
         ("WARDEN_BRANCH", record.branch),
         ("WARDEN_BASE_BRANCH", record.baseBranch),
         ("GIT_AUTHOR_NAME", "Warden agent \(record.id)"), ("GIT_AUTHOR_EMAIL", "agent-\(record.id)@warden.invalid"),
         ("GIT_COMMITTER_NAME", "Warden agent \(record.id)"), ("GIT_COMMITTER_EMAIL", "agent-\(record.id)@warden.invalid")]
    }

    /// Runs before the agent program in the same sandbox: the environment's `start` (what it
    /// starts keeps running; the program follows only when it succeeds), then each terminal in
    /// its own detached tmux session. The session's first program shows the command, runs it,
    /// then becomes a login shell, so the session outlives the command and the user sees what
    /// ran; Ctrl-C stops the command, not the session. (Typing the command into a fresh shell
    /// with send-keys raced the shell's start: bash could drop the typed line.) Scripts and
    /// names travel in the environment, never in the script's text, and are unset before the
    /// program starts.
    static let prelude = """
        if [ -n "${WARDEN_START+set}" ]; then /bin/sh -c "$WARDEN_START" || exit 70; fi
        n=${WARDEN_TERMINAL_COUNT:-0}; i=0
        while [ "$i" -lt "$n" ]; do
          eval "t_name=\\$WARDEN_TERMINAL_NAME_$i t_command=\\$WARDEN_TERMINAL_COMMAND_$i"
          unset "WARDEN_TERMINAL_NAME_$i" "WARDEN_TERMINAL_COMMAND_$i"
          eval "t_name_$i=\\$t_name t_command_$i=\\$t_command"
          i=$((i + 1))
        done
        unset WARDEN_START WARDEN_TERMINAL_COUNT
        i=0
        while [ "$i" -lt "$n" ]; do
          eval "t_name=\\$t_name_$i t_command=\\$t_command_$i"
          tmux new-session -d -s "$t_name" -x 160 -y 48 -e "WARDEN_TERMINAL_COMMAND=$t_command" \
            'printf "$ %s\\n" "$WARDEN_TERMINAL_COMMAND"; trap : INT; eval "$WARDEN_TERMINAL_COMMAND"; trap - INT; unset WARDEN_TERMINAL_COMMAND; exec "${SHELL:-/bin/sh}" -l' \
            || echo "warden: terminal $t_name could not be started" >&2
          i=$((i + 1))
        done
        exec "$@"
        """

    /// The agent's own run: its program (after the environment's `start` and terminals, when
    /// there are any) with the guard the policy's network mode asks for and the secrets it is
    /// given. Its init may fork a shell or a terminal client for `attach` and `terminals`.
    static func agent(_ record: AgentRecord, policy: OrgPolicy, layout: AgentLayout, secrets: [GivenSecret],
                      start: String?, terminals: [AgentTerminal] = [], overlays: [OverlayRequest] = [],
                      egressAllowlist: [DomainPattern]? = nil) throws(GuardError) -> AgentSandboxPlan {
        var command = record.command
        if start != nil || !terminals.isEmpty { command = ["/bin/sh", "-c", prelude, "warden-prelude"] + command }
        var request = base(record, policy: policy, layout: layout, command: command)
        request.allowsSpawn = true
        request.overlays = overlays
        request.environment += secrets.map { ($0.name, $0.value) }
        if let start { request.environment.append(("WARDEN_START", start)) }
        if !terminals.isEmpty {
            request.environment.append(("WARDEN_TERMINAL_COUNT", String(terminals.count)))
            for (index, terminal) in terminals.enumerated() {
                request.environment += [("WARDEN_TERMINAL_NAME_\(index)", terminal.session), ("WARDEN_TERMINAL_COMMAND_\(index)", terminal.command)]
            }
        }
        request.network = NetworkMode(rawValue: policy.network.mode.rawValue) ?? .none
        var plan = try GuardPlan.make(org: policy.network, mode: request.network, owner: record.ownerUID, home: layout.home,
                                      repositoryAllowlist: egressAllowlist, label: record.id, secrets: secrets, origin: record.repository,
                                      agentID: record.id)
        plan?.privateContent = record.privacy
        try plan?.prepare(&request)
        return AgentSandboxPlan(request: request, guardPlan: plan)
    }

    /// Warden's `sudo` for the install step: there everything already runs as the sandbox's
    /// root, so it only runs its command (with leading VAR=value assignments). Not setuid.
    static let sudo = """
        #!/bin/sh
        # Warden's sudo for environment.json's install: the install already runs as root inside
        # the sandbox's own user namespace, so this only runs the command. It is not setuid.
        while [ $# -gt 0 ]; do
          case "$1" in
            -E|-H|-n|-S|-k|-b|-i|-s|--preserve-env|--preserve-env=*|--login|--non-interactive|--set-home) shift ;;
            -u|--user)
              case "$2" in root|0|'#0') shift 2 ;; *) echo "sudo: only root exists in Warden's install step" >&2; exit 1 ;; esac ;;
            --) shift; break ;;
            -*) echo "sudo: option $1 is not supported in Warden's install step" >&2; exit 1 ;;
            *) break ;;
          esac
        done
        [ $# -gt 0 ] || exec /bin/sh -l
        exec /usr/bin/env "$@"

        """
    static let sudoDirectory = "/run/warden/bin"

    /// The environment's `install`: root inside the sandbox's own user namespace with the
    /// install profile's few capabilities, the network and secrets the agent would have, and
    /// every system directory and $HOME overlaid onto `building`, which becomes the snapshot.
    static func install(_ record: AgentRecord, policy: OrgPolicy, layout: AgentLayout, secrets: [GivenSecret],
                        script: String, building: String, egressAllowlist: [DomainPattern]? = nil) throws(GuardError) -> AgentSandboxPlan {
        var request = base(record, policy: policy, layout: layout, command: ["/bin/sh", "-c", "exec /bin/sh -c \"$WARDEN_INSTALL\""])
        request.profile = .install
        request.overlays = SnapshotStore.overlays(building: building)
        request.generatedFiles = [GeneratedFile(path: sudoDirectory + "/sudo", contents: Array(sudo.utf8), mode: 0o755)]
        request.environment += secrets.map { ($0.name, $0.value) }
        request.environment += [("WARDEN_INSTALL", script),
                                ("PATH", sudoDirectory + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")]
        request.network = NetworkMode(rawValue: policy.network.mode.rawValue) ?? .none
        // No canaries: what install leaves in $HOME becomes the snapshot, and canaries are
        // never baked into one.
        var plan = try GuardPlan.make(org: policy.network, mode: request.network, owner: record.ownerUID, home: layout.home,
                                      repositoryAllowlist: egressAllowlist, label: record.id, secrets: secrets, origin: record.repository,
                                      plantCanaries: false, agentID: record.id)
        plan?.privateContent = record.privacy
        try plan?.prepare(&request)
        return AgentSandboxPlan(request: request, guardPlan: plan)
    }

    /// The sandbox that commits what the agent left and writes the branch as a bundle into the
    /// outbox: no network, no secrets. The host then reads only that file, never the
    /// workspace's .git, whose configuration the agent controls (R16).
    static func handoff(_ record: AgentRecord, policy: OrgPolicy, layout: AgentLayout) -> AgentSandboxPlan {
        let script = """
            set -e
            git add -A
            if ! git diff --cached --quiet; then git commit -q --no-verify -m "$WARDEN_COMMIT_MESSAGE"; fi
            rm -f \(AgentLayout.sandboxOutbox)/handoff.bundle
            git bundle create -q \(AgentLayout.sandboxOutbox)/handoff.bundle HEAD
            """
        var request = base(record, policy: policy, layout: layout, command: ["/bin/sh", "-c", script])
        request.environment.append(("WARDEN_COMMIT_MESSAGE", "Warden agent \(record.id): work left uncommitted\n\nCommitted by Warden when the agent ended."))
        request.network = .none
        request.limits.timeoutSeconds = 600
        return AgentSandboxPlan(request: request, guardPlan: nil)
    }

    private static func base(_ record: AgentRecord, policy: OrgPolicy, layout: AgentLayout, command: [String]) -> SandboxRequest {
        var request = SandboxRequest(command: command)
        request.workspace = layout.workspace(record.id)
        request.allowBroadWorkspace = true
        request.environment = contract(record)
        request.readOnlyBinds = [BindRequest(source: layout.inbox(record.id), target: AgentLayout.sandboxInbox)]
        request.readWriteBinds = [BindRequest(source: layout.outbox(record.id), target: AgentLayout.sandboxOutbox)]
        request.terminal = .never
        let sandbox = policy.sandbox
        request.limits.memoryBytes = sandbox.memory.bytes
        request.limits.pids = sandbox.pids
        request.limits.cpus = sandbox.cpus
        if let timeout = sandbox.timeout { request.limits.timeoutSeconds = Double(timeout.seconds) }
        request.shippedProfileName = sandbox.seccompProfile
        return request
    }
}
