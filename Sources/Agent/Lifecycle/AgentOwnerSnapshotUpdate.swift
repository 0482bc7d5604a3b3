import Glibc
import Policy
import Sandbox
import WardenSystem

extension AgentOwner {
    /// What an agent allowed to update its snapshot left in $HOME: kept as the snapshot's next
    /// layer only when the agent finished, its canary files are taken out, and no secret or
    /// canary value is anywhere in it; otherwise discarded. Every outcome is in the agent's
    /// history with its reason.
    func keepUpdate(_ building: String, on prepared: PreparedSnapshot, ending: Ending, outcome: RunOutcome,
                    canaries: CanaryCredentials?, secrets: [GivenSecret]) {
        func note(_ text: String) { try? store.note(id, "snapshot update: " + text, at: wallMilliseconds()) }
        guard ending.state == .finished else { return note("not kept: the agent did not finish (\(ending.state.rawValue))") }
        guard let idBase = outcome.manifest.layers.identity?.hostIDBase else { return note("not kept: the sandbox's id range is unknown") }
        let home = building + "/home/upper"
        SnapshotStore.removePlantedFiles(canaries?.files ?? [], from: home)
        guard !Files.listDirectory(home).isEmpty else { return note("the agent changed nothing in $HOME; the snapshot stays as it was") }
        let homeTarget = EnvironmentSnapshot.targets.filter { $0.path == GeneratedEtc.agentHome }
        if let finding = Self.secretIn(building, secrets: secrets, canaries: canaries?.planted() ?? [], targets: homeTarget) {
            return note("not kept: \(finding) (snapshots never keep secrets or canaries)")
        }
        if let why = DiskWatermark.shortfall(home: layout.home, minimum: startPolicy?.sandbox.minFreeDisk ?? SandboxPolicy().minFreeDisk) {
            return note("not kept: \(why)")
        }
        do {
            let published = try SnapshotStore(home: layout.home).publishUpdate(building, key: prepared.key, ranOn: prepared.snapshot, idBase: idBase,
                                                                                agent: id, now: wallMilliseconds())
            note("what the agent left in $HOME is kept as layer \(published.updates.count) of snapshot \(prepared.key.prefix(12)) for the next agents")
        } catch {
            note("not kept: \(error.description)")
        }
    }
}
