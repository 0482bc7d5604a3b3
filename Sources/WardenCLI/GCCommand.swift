import Agent
import ArgumentParser
import Glibc
import Policy
import Sandbox
import Store
import WardenSystem

/// `warden gc`: the retention sweep by hand (the supervisor runs the same sweep on its own).
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete ended agents' workspaces and logs past retention.agentData, and audit records past retention.audit (root).",
        discussion: """
            Agents that have not ended are never touched. Each deletion is recorded in the agent's \
            history with the policy's reason; an audit purge is recorded in the audit log itself and \
            leaves a keyed checkpoint, so `warden audit verify` still passes. Exit status: 0 done; 1 \
            some data could not be removed; 120 the store cannot be read; 125 bad input.
            """)

    @Option(name: .long, help: ArgumentHelp("Warden's home (default: WARDEN_HOME, else /var/lib/warden).", valueName: "dir"))
    var home: String?

    @Flag(name: .customLong("dry-run"), help: "Say what would be deleted; delete nothing.")
    var dryRun = false

    func run() throws {
        guard geteuid() == 0 else {
            printError("warden: gc needs root: agents' data belongs to the supervisor's home")
            throw ExitCode(WardenExitCode.layerUnavailable)
        }
        if !dryRun {
            let slots = AbandonedCgroups.sweep(runtimeDirectory: WardenPaths.forCurrentUser().runtime)
            if !slots.isEmpty { print("removed the empty cgroups of \(slots.count) sandbox slot(s) no run holds") }
        }
        let home = PolicyHome.resolve(requested: home ?? Host.environment("WARDEN_HOME"), uid: 0).path
        // Never purge under a policy that could not be read (the built-in 90 days would delete
        // what an organisation keeps longer).
        var audit = AuditRetention.Outcome()
        do throws(StoreError) {
            audit = AuditRetention.run(home: home, policy: try PolicyService(home: home).current().policy, now: wallMilliseconds(), dryRun: dryRun)
        } catch {
            audit.failure = "the audit log was not purged: the policy cannot be read: \(error.message)"
        }
        if let purged = audit.purged {
            print("\(dryRun ? "would purge" : "purged") \(purged.count) audit record(s) past retention.audit (records \(purged.first)…\(purged.last))")
        }
        if let failure = audit.failure { printError("warden: gc: \(failure)") }
        let path = AgentStore.path(home: home)
        guard Files.lstat(path) != nil else {
            print("no agents in \(home); nothing to sweep")
            if audit.failure != nil { throw ExitCode(1) }
            return
        }
        let agents: AgentStore
        let policy: OrgPolicy
        do throws(StoreError) {
            agents = try AgentStore(path: path)
            policy = try PolicyService(home: home).current().policy
        } catch {
            printError("warden: gc: \(error.message)")
            throw ExitCode(WardenExitCode.setupFailed)
        }
        let outcome = RetentionSweep.run(agents: agents, policy: policy, layout: AgentLayout(home: home), now: wallMilliseconds(), dryRun: dryRun)
        for id in outcome.removed { print("\(dryRun ? "would remove" : "removed") the data of agent \(id)") }
        for line in outcome.kept { print("kept \(stripTerminalControls(line))") }
        for key in outcome.snapshotsRemoved { print("\(dryRun ? "would remove" : "removed") environment snapshot \(key.prefix(12))") }
        for line in outcome.failures { printError("warden: gc: \(stripTerminalControls(line))") }
        if outcome.removed.isEmpty && outcome.kept.isEmpty && outcome.failures.isEmpty && outcome.snapshotsRemoved.isEmpty { print("no ended agents; nothing to sweep") }
        if !outcome.failures.isEmpty || audit.failure != nil { throw ExitCode(1) }
    }
}
