/// Where an agent is in its life. Every change is a transition the table below allows, with a
/// time and a reason; the terminal states never change again.
public enum AgentState: String, Sendable, Codable, CaseIterable {
    case queued, preparing, running, finished, failed, stopped, expired

    public var isTerminal: Bool {
        switch self {
        case .finished, .failed, .stopped, .expired: return true
        case .queued, .preparing, .running: return false
        }
    }

    /// The states this one may move to.
    public var successors: Set<AgentState> {
        switch self {
        case .queued: return [.preparing, .failed, .stopped]
        case .preparing: return [.running, .failed, .stopped]
        case .running: return [.finished, .failed, .stopped, .expired]
        case .finished, .failed, .stopped, .expired: return []
        }
    }

    public func mayBecome(_ next: AgentState) -> Bool { successors.contains(next) }
}

/// One step of an agent's history.
public struct AgentEvent: Sendable, Equatable, Codable {
    public var time: Int64
    public var state: AgentState
    public var reason: String

    public init(time: Int64, state: AgentState, reason: String) {
        self.time = time
        self.state = state
        self.reason = reason
    }
}

/// An agent as the supervisor keeps it: who started it on what, with which policy, and where
/// it is now. Prompts and follow-ups are not here: they live in files the privacy mode governs.
public struct AgentRecord: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var owner: String
    public var ownerUID: UInt32
    public var repository: String
    public var baseBranch: String
    /// `warden/<name-or-id>`.
    public var branch: String
    public var model: String
    public var command: [String]
    /// Locked at start (R14): a later policy change does not reach a running agent.
    public var privacy: Bool
    public var policyVersion: Int
    public var state: AgentState
    public var reason: String
    public var created: Int64
    public var updated: Int64
    /// The workspace, logs and transcript were deleted (retention, or privacy at completion).
    public var dataRemoved = false

    public init(id: String, name: String, owner: String, ownerUID: UInt32, repository: String, baseBranch: String, model: String,
                command: [String], privacy: Bool, policyVersion: Int, created: Int64) {
        self.id = id
        self.name = name
        self.owner = owner
        self.ownerUID = ownerUID
        self.repository = repository
        self.baseBranch = baseBranch
        branch = "warden/" + (name.isEmpty ? id : name)
        self.model = model
        self.command = command
        self.privacy = privacy
        self.policyVersion = policyVersion
        state = .queued
        reason = "queued by \(owner)"
        self.created = created
        updated = created
    }

    /// An agent's name becomes part of a git branch: letters, digits, `-`, `_` and `.`, not
    /// starting with `-` or `.`, no `..`, at most 64 characters.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64, first != UInt8(ascii: "-"), first != UInt8(ascii: "."),
              !name.contains(".."), !name.hasSuffix(".lock"), !name.hasSuffix(".") else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }
}
