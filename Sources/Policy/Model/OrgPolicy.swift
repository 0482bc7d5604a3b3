/// The organisation's one policy: who may do what, privacy, retention, defaults, network and
/// sandbox settings. A plain value: evaluation never does I/O, and every version of it is
/// kept by the store.
public struct OrgPolicy: Codable, Sendable, Equatable {
    public var users: [PolicyUser] = []
    public var defaults = AgentDefaults()
    public var security = SecuritySettings()
    public var privacy = PrivacySettings()
    public var retention = RetentionSettings()
    public var network = NetworkPolicy()
    public var sandbox = SandboxPolicy()
    public var visibility = VisibilityPolicy()

    public init() {}

    /// The policy in force before an admin writes one: what policies/org.yaml ships (a test
    /// keeps the two equal).
    public static let builtIn = OrgPolicy()

    public func user(named name: String) -> PolicyUser? { users.first { $0.name == name } }
}

/// Settings new agents start from.
public struct AgentDefaults: Codable, Sendable, Equatable {
    public var model = ""
    public var repository = ""
    public var branch = "main"
    /// The agent program and its arguments when `warden agent start` names none (empty: the
    /// caller must give `--command`).
    public var agentCommand: [String] = []

    public init() {}

    enum CodingKeys: String, CodingKey { case model, repository, branch, agentCommand }

    /// Policies stored before `agentCommand` existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decode(String.self, forKey: .model)
        repository = try container.decode(String.self, forKey: .repository)
        branch = try container.decode(String.self, forKey: .branch)
        agentCommand = try container.decodeIfPresent([String].self, forKey: .agentCommand) ?? []
    }
}

/// Admin-only settings of the product Warden re-creates.
public struct SecuritySettings: Codable, Sendable, Equatable {
    public enum UserRestriction: String, Codable, Sendable, CaseIterable {
        /// Every Warden user may start agents.
        case none
        /// Only `allowedUsers` (and admins) may start agents.
        case allowlist
    }

    public var userRestriction: UserRestriction = .none
    public var allowedUsers: [String] = []
    /// On: anyone may send follow-ups to any agent. Off: only the owner and admins.
    public var teamFollowUps = true
    /// Whether agent summaries show file diffs and code snippets.
    public var displaySummary = true
    /// The same for external channels (chat integrations, the webhook).
    public var displaySummaryExternal = false
    /// Receives a JSON notice when an agent ends (empty: none). https, or http to loopback.
    public var webhook = ""

    public init() {}

    enum CodingKeys: String, CodingKey { case userRestriction, allowedUsers, teamFollowUps, displaySummary, displaySummaryExternal, webhook }

    /// Policies stored before `webhook` existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        userRestriction = try container.decode(UserRestriction.self, forKey: .userRestriction)
        allowedUsers = try container.decode([String].self, forKey: .allowedUsers)
        teamFollowUps = try container.decode(Bool.self, forKey: .teamFollowUps)
        displaySummary = try container.decode(Bool.self, forKey: .displaySummary)
        displaySummaryExternal = try container.decode(Bool.self, forKey: .displaySummaryExternal)
        webhook = try container.decodeIfPresent(String.self, forKey: .webhook) ?? ""
    }
}

/// Privacy mode: the org default, whether users may turn it off, and each user's own choice.
public struct PrivacySettings: Codable, Sendable, Equatable {
    public var orgDefault = true
    /// Users cannot turn privacy mode off.
    public var enforced = false
    /// Each user's own setting, by user name.
    public var users: [String: Bool] = [:]

    public init() {}
}

/// How long things are kept after an agent finishes.
public struct RetentionSettings: Codable, Sendable, Equatable {
    /// Workspace, logs and transcript of a finished agent.
    public var agentData = PolicyDuration(seconds: 3 * 86_400)
    /// Audit records (connections, DNS, flags, policy decisions).
    public var audit = PolicyDuration(seconds: 90 * 86_400)

    public init() {}
}

/// Who may see, follow, attach to or stop whose agents, and read whose records (R25).
public struct VisibilityPolicy: Codable, Sendable, Equatable {
    public enum Scope: String, Codable, Sendable, CaseIterable {
        /// Members see only their own.
        case own
        /// Members see everyone's.
        case team
    }

    /// Listing, showing and following agents (status, not content).
    public var agents: Scope = .own
    /// Logs and transcripts.
    public var content: Scope = .own

    public init() {}
}
