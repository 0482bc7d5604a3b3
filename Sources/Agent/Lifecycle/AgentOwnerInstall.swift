import Glibc
import NetGuard
import Policy
import Sandbox
import Store
import WardenSystem

/// The snapshot an agent starts from.
struct PreparedSnapshot {
    var key: String
    /// Nil: none exists yet (no `install`; agents' updates will make one).
    var snapshot: EnvironmentSnapshot?
    /// Install's build when it may not be kept (it holds a secret): this agent's alone,
    /// removed when it ends.
    var privateBase: String?
}

/// What the environment adds to the agent's sandbox: the snapshot's overlays, and where its
/// $HOME is kept when it may update the snapshot.
struct EnvironmentLayers {
    var overlays: [OverlayRequest] = []
    var prepared: PreparedSnapshot?
    var updating: String?
}

extension AgentOwner {
    /// The snapshot (install run or reused) and, for an agent that may update it
    /// (agentCanUpdateSnapshot where `sandbox.agentSnapshotUpdates` allows), a fresh $HOME layer.
    func environmentLayers(_ record: AgentRecord, environment: AgentEnvironment?, environmentText: String, policy: OrgPolicy,
                           secrets: [GivenSecret]) -> Result<EnvironmentLayers, Ending> {
        let updates = environment?.agentCanUpdateSnapshot == true && policy.sandbox.agentSnapshotUpdates
        guard environment?.install != nil || updates else { return .success(EnvironmentLayers()) }
        var layers = EnvironmentLayers()
        switch prepareSnapshot(record, install: environment?.install, environmentText: environmentText, policy: policy, secrets: secrets,
                               egressAllowlist: environment?.egressPatterns) {
        case .failure(let ending): return .failure(ending)
        case .success(let prepared): layers.prepared = prepared
        }
        if let base = layers.prepared?.privateBase { scratchDirectories.append(base) }
        if let stop = stopRequest() { return .failure(Ending(state: .stopped, reason: stop)) }
        if updates, let prepared = layers.prepared {
            if prepared.privateBase != nil {
                try? store.note(id, "snapshot update: not possible: install's snapshot is not kept, so there is nothing to add a layer to", at: wallMilliseconds())
            } else {
                let building: String
                do { building = try SnapshotStore(home: layout.home).makeUpdate() } catch {
                    return .failure(Ending(state: .failed, reason: "the snapshot update cannot be prepared: \(error.description)"))
                }
                scratchDirectories.append(building)
                markSnapshotInUse(String(building.split(separator: "/").last ?? ""))
                layers.updating = building
            }
        }
        layers.overlays = layers.prepared.map {
            SnapshotStore(home: layout.home).overlays(for: $0.snapshot, base: $0.privateBase, updating: layers.updating)
        } ?? []
        return .success(layers)
    }

    /// The environment's `install`, run once per snapshot key: reused when a snapshot with the
    /// same inputs exists, else run under the install profile into a new snapshot, published
    /// only when it succeeded and holds no secret. `install` nil: only the existing snapshot,
    /// if any (an agent that may update it).
    func prepareSnapshot(_ record: AgentRecord, install: String?, environmentText: String, policy: OrgPolicy,
                         secrets: [GivenSecret], egressAllowlist: [DomainPattern]?) -> Result<PreparedSnapshot, Ending> {
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
        markSnapshotInUse(key)
        if let existing = snapshots.find(key) {
            snapshots.touch(key, now: wallMilliseconds())
            let built = existing.installed ? "built by agent \(existing.agent) in \(existing.installMilliseconds) ms" : "no install"
            let added = existing.updates.isEmpty ? "" : "; \(existing.updates.count) layer(s) agents added on top, the newest by \(existing.updates[0].agent)"
            try? store.note(id, "install: not run: snapshot \(key.prefix(12)) reused (\(built)\(added))", at: wallMilliseconds())
            return .success(PreparedSnapshot(key: key, snapshot: existing))
        }
        guard let install else { return .success(PreparedSnapshot(key: key)) }
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
        let snapshot = EnvironmentSnapshot(key: key, idBase: idBase, created: wallMilliseconds(), agent: id, installMilliseconds: elapsed)
        do { try SnapshotStore.giveHomeToAgent(building, idBase: idBase) } catch {
            try? RetentionSweep.removeTree(building)
            return .failure(Ending(state: .failed, reason: "install: the snapshot cannot be kept: \(error.description)"))
        }
        // Secrets reach install; a snapshot reaches every later agent. One that holds a secret's
        // value is this agent's only.
        if let finding = Self.secretIn(building, secrets: secrets, canaries: []) {
            markSnapshotInUse(key, String(building.split(separator: "/").last ?? ""))
            try? store.note(id, "install: ran in \(elapsed) ms; its snapshot is not kept: \(finding) (snapshots never keep secrets; install runs again for the next agent)",
                            at: wallMilliseconds())
            return .success(PreparedSnapshot(key: key, snapshot: snapshot, privateBase: building))
        }
        do {
            let published = try snapshots.publish(building, snapshot)
            try? store.note(id, "install: ran in \(elapsed) ms; snapshot \(key.prefix(12)) kept for the next agents", at: wallMilliseconds())
            return .success(PreparedSnapshot(key: key, snapshot: published))
        } catch {
            try? RetentionSweep.removeTree(building)
            return .failure(Ending(state: .failed, reason: "install: the snapshot cannot be kept: \(error.description)"))
        }
    }

    /// The first secret or canary value in a build's layers (`building/<name>/upper`, shown
    /// at their paths in the sandbox), nil when it holds none.
    static func secretIn(_ building: String, secrets: [GivenSecret], canaries: [PlantedValue],
                         targets: [EnvironmentSnapshot.Target] = EnvironmentSnapshot.targets) -> SnapshotSecretScan.Finding? {
        let scan = SnapshotSecretScan(values: GuardPlan.planted(secrets) + canaries)
        for target in targets {
            let upper = building + "/" + target.name + "/upper"
            guard Files.lstat(upper) != nil else { continue }
            if let finding = scan.firstFinding(in: upper, shownAs: target.path) { return finding }
        }
        return nil
    }

    /// Names the retention sweep must leave alone while this agent has not ended: its
    /// snapshot's key, and builds it uses.
    func markSnapshotInUse(_ names: String...) {
        let existing = (try? Files.readText(layout.snapshotKey(id), limit: 4096)) ?? ""
        let lines = existing.split(separator: "\n").map(String.init) + names.filter { !$0.isEmpty }
        try? Files.writeAtomically(layout.snapshotKey(id), Array(lines.joined(separator: "\n").utf8), mode: 0o600)
    }
}
