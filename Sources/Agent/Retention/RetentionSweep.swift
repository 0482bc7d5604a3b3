import Glibc
import Policy
import Store
import WardenSystem

/// Deletes ended agents' data (workspace, logs, transcript: the agent's directory) once the
/// policy's `retention.agentData` has passed since they ended. An agent that has not ended is
/// never touched. Each deletion is recorded in the agent's history with the policy's reason.
public enum RetentionSweep {
    public struct Outcome: Sendable, Equatable {
        public var removed: [String] = []
        /// Agents kept, with why (not yet expired).
        public var kept: [String] = []
        public var failures: [String] = []
    }

    /// `now`: milliseconds since the epoch. `dryRun` decides without deleting or recording.
    public static func run(agents: AgentStore, policy: OrgPolicy, agentsDirectory: String, now: Int64, dryRun: Bool = false) -> Outcome {
        var outcome = Outcome()
        let evaluator = PolicyEvaluator(policy)
        let records: [AgentRecord]
        do { records = try agents.list(includeEnded: true) } catch {
            outcome.failures.append("the agent store cannot be read: \(error.message)")
            return outcome
        }
        for record in records where record.state.isTerminal && !record.dataRemoved {
            let decision = evaluator.isExpired(RetainedRecord(kind: .agentData, since: record.updated / 1000), now: now / 1000)
            guard decision.allowed else {
                outcome.kept.append("\(record.id): \(decision.reason)")
                continue
            }
            if dryRun {
                outcome.removed.append(record.id)
                continue
            }
            // Ids are Warden's own; one that is not a plain name is never used as a path.
            guard !record.id.isEmpty, record.id.utf8.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }) else {
                outcome.failures.append("\(record.id.prefix(40)): not a Warden agent id; its data is not touched")
                continue
            }
            let directory = agentsDirectory + "/" + record.id
            do {
                try removeTree(directory)
                try agents.markDataRemoved(record.id, reason: "data removed: \(decision.reason) [\(decision.rule)]", at: now)
                outcome.removed.append(record.id)
            } catch let error as StoreError {
                outcome.failures.append("\(record.id): \(error.message)")
            } catch {
                outcome.failures.append("\(record.id): \(error)")
            }
        }
        return outcome
    }

    /// Removes a directory tree without following symbolic links out of it (an agent may have
    /// left links to anywhere) and without crossing into other file systems.
    static func removeTree(_ path: String) throws(SystemError) {
        guard let top = Files.lstat(path) else { return }
        try removeEntry(path, device: top.st_dev, depth: 0)
    }

    private static func removeEntry(_ path: String, device: dev_t, depth: Int) throws(SystemError) {
        guard let st = Files.lstat(path) else { return }
        guard depth < 4096 else { throw SystemError(errno: ELOOP, step: "remove \(path): nested too deep") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard st.st_dev == device else { throw SystemError(errno: EXDEV, step: "remove \(path): another file system is mounted there") }
            // The owner (the developer) may have left it unreadable; root can still list it.
            chmod(path, 0o700)
            for name in Files.listDirectory(path) where name != "." && name != ".." {
                try removeEntry(path + "/" + name, device: device, depth: depth + 1)
            }
            try check("rmdir(\(path))") { rmdir(path) }
        } else {
            try check("unlink(\(path))") { unlink(path) }
        }
    }
}
