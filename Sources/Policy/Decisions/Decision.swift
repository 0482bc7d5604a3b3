/// The answer to one question put to the policy: allowed or not, the rule that decided
/// (a setting key or rule id an admin can look up), and a sentence a person can read.
public struct Decision: Sendable, Equatable, Codable, CustomStringConvertible {
    public var allowed: Bool
    public var rule: String
    public var reason: String

    public init(allowed: Bool, rule: String, reason: String) {
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
    }

    static func allow(_ rule: String, _ reason: String) -> Decision { Decision(allowed: true, rule: rule, reason: reason) }
    static func deny(_ rule: String, _ reason: String) -> Decision { Decision(allowed: false, rule: rule, reason: reason) }

    public var description: String { "\(allowed ? "allow" : "deny") [\(rule)] \(reason)" }
}

/// What an agent carries from its start to its end: the policy in force when it started and
/// the privacy mode it took then (locked: later changes never reach it, R-privacy).
public struct AgentPolicySnapshot: Codable, Sendable, Equatable {
    public var policyVersion: Int
    public var policy: OrgPolicy
    public var privacy: Bool
    public var privacyRule: String

    public init(policyVersion: Int, policy: OrgPolicy, privacy: Bool, privacyRule: String) {
        self.policyVersion = policyVersion
        self.policy = policy
        self.privacy = privacy
        self.privacyRule = privacyRule
    }
}

/// An agent as decisions about it need it.
public struct AgentRef: Sendable, Equatable {
    public var id: String
    /// The owner's user name.
    public var owner: String

    public init(id: String, owner: String) {
        self.id = id
        self.owner = owner
    }
}

/// Things people do to agents, beyond starting one.
public enum AgentAction: String, Sendable, CaseIterable {
    /// List, show status, follow progress.
    case see
    /// Read logs and the transcript.
    case readContent = "read-content"
    /// Take over a shell.
    case attach
    case stop
}

/// Where an agent summary is shown.
public enum SummaryChannel: String, Sendable, CaseIterable {
    /// Warden's own CLI and UI.
    case app
    /// Chat integrations and other channels outside Warden.
    case external
}

/// A kept record whose age the retention policy judges.
public struct RetainedRecord: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A finished agent's workspace, logs and transcript.
        case agentData = "agent-data"
        /// Prompts, transcript and log content of a privacy-mode agent.
        case privateContent = "private-content"
        /// Connection, DNS, flag and decision records.
        case audit
    }

    public var kind: Kind
    /// When the agent finished (agent data) or the record was written (audit), seconds since
    /// the epoch.
    public var since: Int64

    public init(kind: Kind, since: Int64) {
        self.kind = kind
        self.since = since
    }
}
