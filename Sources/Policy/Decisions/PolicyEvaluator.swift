/// Every decision the org policy makes, as pure functions of the policy and their arguments:
/// no clock (callers pass `now`), no I/O, same answer every time.
public struct PolicyEvaluator: Sendable {
    public let policy: OrgPolicy

    public init(_ policy: OrgPolicy) {
        self.policy = policy
    }

    /// Who may start an agent: Warden users (strangers never), subject to the allow list.
    public func mayStartAgent(_ user: Principal) -> Decision {
        guard let role = user.role else {
            return .deny("users", "\(user) is not a Warden user; an admin adds them with `warden-admin users add`")
        }
        if role == .auditor { return .deny("users.role", "\(user.name) is an auditor; auditors read records and change nothing") }
        switch policy.security.userRestriction {
        case .none:
            return .allow("security.userRestriction", "user restrictions are off: every Warden user may start agents")
        case .allowlist:
            if role == .admin { return .allow("security.userRestriction", "\(user.name) is an admin; admins may always start agents") }
            if policy.security.allowedUsers.contains(user.name) {
                return .allow("security.allowedUsers", "\(user.name) is on the allow list of users who may start agents")
            }
            return .deny("security.allowedUsers", "\(user.name) is not on the allow list of users who may start agents")
        }
    }

    /// Follow-ups: the owner and admins always; others only with team follow-ups on.
    public func mayFollowUp(_ user: Principal, agent: AgentRef) -> Decision {
        guard let role = user.role else { return .deny("users", "\(user) is not a Warden user") }
        if role == .auditor { return .deny("users.role", "\(user.name) is an auditor; auditors change nothing") }
        if user.name == agent.owner { return .allow("owner", "\(user.name) owns agent \(agent.id)") }
        if role == .admin { return .allow("users.role", "\(user.name) is an admin; admins may follow up on any agent") }
        if policy.security.teamFollowUps {
            return .allow("security.teamFollowUps", "team follow-ups are on: anyone may follow up on agent \(agent.id)")
        }
        return .deny("security.teamFollowUps", "team follow-ups are off: only \(agent.owner) (the owner) and admins may follow up on agent \(agent.id)")
    }

    /// Whether a summary shows file diffs and code snippets in a channel.
    public func maySeeSummary(_ viewer: Principal, channel: SummaryChannel) -> Decision {
        switch channel {
        case .app:
            return policy.security.displaySummary
                ? .allow("security.displaySummary", "agent summaries show file diffs and code snippets")
                : .deny("security.displaySummary", "display agent summary is off: summaries omit file diffs and code snippets")
        case .external:
            guard policy.security.displaySummary else {
                return .deny("security.displaySummary", "display agent summary is off everywhere, external channels included")
            }
            return policy.security.displaySummaryExternal
                ? .allow("security.displaySummaryExternal", "agent summaries with diffs are shown in external channels")
                : .deny("security.displaySummaryExternal", "display agent summary in external channels is off")
        }
    }

    /// Who may change a setting: admins change everything; a member may change only their own
    /// privacy setting, and only turn it off when privacy is not enforced. Auditors and
    /// strangers change nothing.
    public func mayChange(_ user: Principal, setting key: String, newValue: String? = nil) -> Decision {
        guard let role = user.role else { return .deny("users", "\(user) is not a Warden user and may change nothing") }
        if role == .admin { return .allow("users.role", "\(user.name) is an admin") }
        if role == .auditor { return .deny("users.role", "\(user.name) is an auditor; auditors read every audit record and change nothing") }
        if key == "privacy.users.\(user.name)" {
            if policy.privacy.enforced, let newValue, (try? SettingValue.bool(newValue)) == false {
                return .deny("privacy.enforced", "privacy mode is enforced by the organisation; users cannot turn it off")
            }
            return .allow("privacy.users", "members may set their own privacy mode")
        }
        return .deny("users.role", "only admins may change \(key); \(user.name) is a member")
    }

    /// Whether `user` may use an option that weakens a sandbox (R24). Layers the policy
    /// requires cannot be given up by anyone.
    public func mayWeaken(_ user: Principal, option: WeakeningOption, layer: SandboxLayer? = nil) -> Decision {
        if option == .allowDegraded, let layer, policy.sandbox.requiredLayers.contains(layer) {
            return .deny("sandbox.requiredLayers", "the \(layer.rawValue) layer is required by the organisation; no one may give it up")
        }
        let grant = policy.sandbox.grant(for: option)
        let key = "sandbox.weakening.\(option.rawValue)"
        if let role = user.role, grant.roles.contains(role) {
            return .allow(key, "\(option.flag) is granted to the \(role.rawValue) role (\(user.name))")
        }
        if grant.users.contains(user.name), user.role != nil {
            return .allow(key, "\(option.flag) is granted to \(user.name)")
        }
        return .deny(key, "\(option.flag) weakens the sandbox and the organisation's policy does not grant it to \(user)")
    }

    /// Seeing, reading, attaching to and stopping agents (R25). Owners and admins may do all;
    /// auditors may see and read but never act; members see others' agents and content only
    /// where visibility is `team`, and never attach to or stop them.
    public func mayAct(_ user: Principal, _ action: AgentAction, agent: AgentRef) -> Decision {
        guard let role = user.role else { return .deny("users", "\(user) is not a Warden user") }
        if user.name == agent.owner, role != .auditor || action == .see || action == .readContent {
            return .allow("owner", "\(user.name) owns agent \(agent.id)")
        }
        switch (role, action) {
        case (.admin, _): return .allow("users.role", "\(user.name) is an admin")
        case (.auditor, .see), (.auditor, .readContent): return .allow("users.role", "\(user.name) is an auditor and reads every record")
        case (.auditor, _): return .deny("users.role", "auditors change nothing; \(user.name) may not \(action.rawValue) agent \(agent.id)")
        case (.member, .see):
            return policy.visibility.agents == .team
                ? .allow("visibility.agents", "visibility.agents is team: members see every agent")
                : .deny("visibility.agents", "members see only their own agents; agent \(agent.id) belongs to \(agent.owner)")
        case (.member, .readContent):
            return policy.visibility.content == .team
                ? .allow("visibility.content", "visibility.content is team: members read every agent's logs and transcript")
                : .deny("visibility.content", "logs and transcripts of \(agent.owner)'s agent \(agent.id) need the owner, an auditor or an admin")
        case (.member, _):
            return .deny("owner", "only \(agent.owner) (the owner) and admins may \(action.rawValue) agent \(agent.id)")
        }
    }

    /// Audit records: auditors and admins read all; members only those of their own agents.
    public func mayViewAudit(_ user: Principal, recordOwner: String) -> Decision {
        guard let role = user.role else { return .deny("users", "\(user) is not a Warden user") }
        if role == .admin || role == .auditor { return .allow("users.role", "\(user.name) is an \(role.rawValue) and reads every audit record") }
        if user.name == recordOwner { return .allow("owner", "the record is of \(user.name)'s own agent") }
        return .deny("users.role", "audit records of \(recordOwner)'s agents need an auditor or an admin")
    }

    /// The privacy mode a new agent of `user` starts with (and keeps until it completes).
    public func privacyFor(newAgentOf user: Principal) -> Decision {
        let privacy = policy.privacy
        if privacy.enforced {
            return .allow("privacy.enforced", "privacy mode is enforced by the organisation: on")
        }
        if let own = privacy.users[user.name] {
            return Decision(allowed: own, rule: "privacy.users.\(user.name)", reason: "\(user.name)'s own setting: \(own ? "on" : "off")")
        }
        return Decision(allowed: privacy.orgDefault, rule: "privacy.default", reason: "the organisation's default: \(privacy.orgDefault ? "on" : "off")")
    }

    /// The snapshot a new agent carries: the policy now, and its privacy mode, locked.
    public func snapshot(newAgentOf user: Principal, policyVersion: Int) -> AgentPolicySnapshot {
        let privacy = privacyFor(newAgentOf: user)
        return AgentPolicySnapshot(policyVersion: policyVersion, policy: policy, privacy: privacy.allowed, privacyRule: privacy.rule)
    }

    /// Whether a record is past its retention at `now` (seconds since the epoch). A record
    /// exactly at its limit is expired: "kept for 3 days" means not on the fourth.
    public func isExpired(_ record: RetainedRecord, now: Int64) -> Decision {
        let age = now - record.since
        let (limit, key): (PolicyDuration?, String) = switch record.kind {
        case .agentData: (policy.retention.agentData, "retention.agentData")
        case .audit: (policy.retention.audit, "retention.audit")
        case .privateContent: (nil, "privacy")
        }
        guard let limit else {
            return age >= 0
                ? .allow(key, "privacy mode: prompt, transcript and log content are not kept after the agent completes")
                : .deny(key, "the agent has not completed")
        }
        if age >= limit.seconds {
            return .allow(key, "\(PolicyDuration(seconds: max(age, 1))) old; \(key) keeps \(limit)")
        }
        return .deny(key, "kept: \(age < 1 ? "just now" : PolicyDuration(seconds: age).description) old, \(key) keeps \(limit)")
    }

    /// Egress for a new agent under this policy (running agents use `EgressPolicy.forRunningAgent`).
    public func egress(_ request: EgressRequest, repositoryAllowlist: [DomainPattern]? = nil) -> Decision {
        EgressPolicy(network: policy.network, repositoryAllowlist: repositoryAllowlist).evaluate(request).decision
    }
}
