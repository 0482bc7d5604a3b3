import Glibc
import Store
import WardenSystem

/// What a (re)started supervisor does with the agents it finds (R17): each agent that has not
/// ended either still has its owner process (the very same process: pid and start time), and
/// is left to it, or has lost it, and is marked failed with the reason after its sandbox, if
/// still alive, is killed (pid 1 of a pid namespace takes everything in it along). Run at
/// start and then periodically, so an owner that dies while the supervisor runs is noticed too.
public enum AgentRecovery {
    public struct Outcome: Sendable, Equatable {
        public var adopted: [String] = []
        public var failed: [String] = []
        public var problems: [String] = []
    }

    /// An agent younger than this without an owner record may still be starting.
    public static let startGraceMilliseconds: Int64 = 15_000

    public static func run(home: String, now: Int64 = wallMilliseconds()) -> Outcome {
        var outcome = Outcome()
        let layout = AgentLayout(home: home)
        let agents: [AgentRecord]
        let store: AgentStore
        do {
            guard let existing = try AgentStore.existing(home: home) else { return outcome }
            store = existing
            agents = try store.list(includeEnded: false)
        } catch {
            outcome.problems.append("the agent store cannot be read: \(error.message)")
            return outcome
        }
        for record in agents where AgentLayout.isValidID(record.id) {
            let owners = OwnerRecord.read(layout.ownerFile(record.id))
            if let owner = owners?.owner, owner.isAlive {
                outcome.adopted.append(record.id)
                continue
            }
            if owners == nil && now - record.created < startGraceMilliseconds { continue }
            var reason = owners == nil ? "lost: its owner process never started" : "lost: its owner process (pid \(owners!.owner.pid)) ended without finishing the agent"
            if let sandbox = owners?.sandbox, sandbox.isAlive {
                sandbox.signal(SIGKILL)
                reason += "; its sandbox was killed"
            }
            // The owner may have finished the agent between the read and now: then the
            // transition is refused, which is right.
            do {
                try store.transition(record.id, to: .failed, reason: reason, at: wallMilliseconds())
                outcome.failed.append(record.id)
            } catch where error.code == .conflict {
                continue
            } catch {
                outcome.problems.append("\(record.id): \(error.message)")
            }
        }
        return outcome
    }
}
