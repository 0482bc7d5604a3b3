import Glibc
import Policy
import Sandbox
import Store
import WardenSystem

extension AgentOwner {
    /// The environment's `install`, run once per snapshot key: reused when a snapshot with the
    /// same inputs exists, else run under the install profile into a new snapshot, published
    /// only when it succeeded. Returns the overlays the agent's sandbox gets.
    func snapshot(_ record: AgentRecord, install: String, environmentText: String, policy: OrgPolicy,
                  secrets: [GivenSecret], egressAllowlist: [DomainPattern]?) -> Result<[OverlayRequest], Ending> {
        let snapshots = SnapshotStore(home: layout.home)
        let key: String
        do {
            let workspace = try FileDescriptor.open(layout.workspace(id), O_RDONLY | O_DIRECTORY, resolve: .noLinks)
            key = EnvironmentSnapshot.key(environmentText: environmentText, workspace: workspace, policy: policy,
                                          repository: record.repository, owner: record.owner)
        } catch {
            return .failure(Ending(state: .failed, reason: "install: the workspace cannot be read: \(error.description)"))
        }
        // Marked in use first: the retention sweep skips snapshots of agents that have not ended.
        try? Files.writeAtomically(layout.snapshotKey(id), Array(key.utf8), mode: 0o600)
        if let existing = snapshots.find(key) {
            snapshots.touch(key, now: wallMilliseconds())
            try? store.note(id, "install: not run: snapshot \(key.prefix(12)) reused (built by agent \(existing.agent) in \(existing.installMilliseconds) ms)",
                            at: wallMilliseconds())
            return .success(snapshots.overlays(for: existing))
        }
        if let why = DiskWatermark.shortfall(home: layout.home, minimum: policy.sandbox.minFreeDisk) {
            return .failure(Ending(state: .failed, reason: "install: not run: \(why)"))
        }
        let building: String
        do { building = try snapshots.makeBuilding() } catch {
            return .failure(Ending(state: .failed, reason: "install: the snapshot cannot be prepared: \(error.description)"))
        }
        let started = monotonicNanoseconds()
        try? store.note(id, "install: running (root inside the sandbox, install profile; snapshot \(key.prefix(12)))", at: wallMilliseconds())
        let plan: AgentSandboxPlan
        do { plan = try AgentSandboxPlan.install(record, policy: policy, layout: layout, secrets: secrets, script: install, building: building,
                                                       egressAllowlist: egressAllowlist) } catch {
            try? RetentionSweep.removeTree(building)
            return .failure(Ending(state: .failed, reason: "install: \(error.message)"))
        }
        let outcome: RunOutcome
        do { outcome = try runCaptured(plan, secrets: secrets.map { (name: $0.name, value: $0.value) }) } catch {
            try? RetentionSweep.removeTree(building)
            return .failure(Ending(state: .failed, reason: "install: the log cannot be captured: \(error.description)"))
        }
        let elapsed = Int64((monotonicNanoseconds() - started) / 1_000_000)
        guard outcome.manifest.exit.reason == "exited", outcome.manifest.exit.code == 0,
              let idBase = outcome.manifest.layers.identity?.hostIDBase else {
            try? RetentionSweep.removeTree(building)
            let exit = outcome.manifest.exit
            let why = exit.reason == "exited" ? "exit status \(exit.code ?? -1)" : exit.reason + (outcome.message.map { ": \($0)" } ?? "")
            return .failure(Ending(state: .failed, reason: "install failed (\(why)); no snapshot was kept (see `warden agent logs \(id)`)"))
        }
        do {
            try SnapshotStore.giveHomeToAgent(building, idBase: idBase)
            let published = try snapshots.publish(building, EnvironmentSnapshot(key: key, idBase: idBase, created: wallMilliseconds(),
                                                                                agent: id, installMilliseconds: elapsed))
            try? store.note(id, "install: ran in \(elapsed) ms; snapshot \(key.prefix(12)) kept for the next agents", at: wallMilliseconds())
            return .success(snapshots.overlays(for: published))
        } catch {
            try? RetentionSweep.removeTree(building)
            return .failure(Ending(state: .failed, reason: "install: the snapshot cannot be kept: \(error.description)"))
        }
    }
}
