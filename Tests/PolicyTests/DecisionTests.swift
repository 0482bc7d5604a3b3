import Testing
@testable import Policy

@Suite("Policy decisions")
struct DecisionTests {
    let alice = Fixture.principal(Fixture.alice), bob = Fixture.principal(Fixture.bob)
    let carol = Fixture.principal(Fixture.carol), dave = Fixture.principal(Fixture.dave)

    @Test("privacy is locked at start: off at start, on during the run -> the agent stays off")
    func privacyLockOffThenOn() {
        var policy = Fixture.policy
        policy.privacy.orgDefault = false
        let snapshot = PolicyEvaluator(policy).snapshot(newAgentOf: alice, policyVersion: 1)
        #expect(snapshot.privacy == false)
        policy.privacy.orgDefault = true
        policy.privacy.enforced = true
        #expect(snapshot.privacy == false, "the running agent keeps its start-time mode")
        #expect(PolicyEvaluator(policy).snapshot(newAgentOf: alice, policyVersion: 2).privacy == true, "a new agent takes the new mode")
    }

    @Test("privacy is locked at start: on at start, off during the run -> the agent stays on")
    func privacyLockOnThenOff() {
        var policy = Fixture.policy
        let snapshot = PolicyEvaluator(policy).snapshot(newAgentOf: alice, policyVersion: 1)
        #expect(snapshot.privacy == true)
        policy.privacy.orgDefault = false
        policy.privacy.users["alice"] = false
        #expect(snapshot.privacy == true)
        #expect(PolicyEvaluator(policy).privacyFor(newAgentOf: alice).allowed == false)
    }

    @Test("privacy: enforcement beats a user's own off; a user's own setting beats the org default")
    func privacyPrecedence() {
        var policy = Fixture.policy
        policy.privacy.orgDefault = false
        policy.privacy.users["alice"] = true
        #expect(PolicyEvaluator(policy).privacyFor(newAgentOf: alice).rule == "privacy.users.alice")
        #expect(PolicyEvaluator(policy).privacyFor(newAgentOf: bob).allowed == false)
        policy.privacy.enforced = true
        policy.privacy.users["alice"] = false
        let decision = PolicyEvaluator(policy).privacyFor(newAgentOf: alice)
        #expect(decision.allowed && decision.rule == "privacy.enforced")
    }

    @Test("team follow-ups on: owner, admin and other members may; auditors and strangers never")
    func followUpsOn() {
        let evaluator = PolicyEvaluator(Fixture.policy)
        let agent = AgentRef(id: "a1", owner: "alice")
        #expect(evaluator.mayFollowUp(alice, agent: agent).allowed)
        #expect(evaluator.mayFollowUp(carol, agent: agent).allowed)
        #expect(evaluator.mayFollowUp(bob, agent: agent).allowed)
        #expect(evaluator.mayFollowUp(bob, agent: agent).rule == "security.teamFollowUps")
        #expect(!evaluator.mayFollowUp(dave, agent: agent).allowed)
        #expect(!evaluator.mayFollowUp(Fixture.stranger, agent: agent).allowed)
    }

    @Test("team follow-ups off: only the owner and admins")
    func followUpsOff() {
        var policy = Fixture.policy
        policy.security.teamFollowUps = false
        let evaluator = PolicyEvaluator(policy)
        let agent = AgentRef(id: "a1", owner: "alice")
        #expect(evaluator.mayFollowUp(alice, agent: agent).allowed)
        #expect(evaluator.mayFollowUp(carol, agent: agent).allowed)
        let refused = evaluator.mayFollowUp(bob, agent: agent)
        #expect(!refused.allowed && refused.rule == "security.teamFollowUps" && refused.reason.contains("only alice"))
    }

    @Test("user allow list: off lets every user start; on lets the listed users and admins only")
    func allowList() {
        var policy = Fixture.policy
        #expect(PolicyEvaluator(policy).mayStartAgent(bob).allowed)
        #expect(!PolicyEvaluator(policy).mayStartAgent(Fixture.stranger).allowed, "strangers never")
        #expect(!PolicyEvaluator(policy).mayStartAgent(dave).allowed, "auditors change nothing")
        policy.security.userRestriction = .allowlist
        policy.security.allowedUsers = ["alice"]
        let evaluator = PolicyEvaluator(policy)
        #expect(evaluator.mayStartAgent(alice).allowed)
        #expect(evaluator.mayStartAgent(alice).rule == "security.allowedUsers")
        #expect(!evaluator.mayStartAgent(bob).allowed)
        #expect(evaluator.mayStartAgent(carol).allowed)
        #expect(evaluator.mayStartAgent(Principal(uid: 0, kind: .root)).allowed)
    }

    @Test("retention boundaries: kept until exactly the limit, expired at it", arguments: [
        (RetainedRecord.Kind.agentData, Int64(3 * 86_400)), (.audit, Int64(90 * 86_400)),
    ])
    func retention(_ kind: RetainedRecord.Kind, _ limit: Int64) {
        let evaluator = PolicyEvaluator(OrgPolicy())
        let record = RetainedRecord(kind: kind, since: 1_000_000)
        #expect(!evaluator.isExpired(record, now: 1_000_000).allowed)
        #expect(!evaluator.isExpired(record, now: 1_000_000 + limit - 1).allowed)
        #expect(evaluator.isExpired(record, now: 1_000_000 + limit).allowed)
        #expect(evaluator.isExpired(record, now: 1_000_000 + limit + 1).allowed)
        #expect(evaluator.isExpired(record, now: 1_000_000 + limit).rule == "retention.\(kind == .audit ? "audit" : "agentData")")
    }

    @Test("privacy-mode content is gone as soon as the agent completes")
    func privateContent() {
        let evaluator = PolicyEvaluator(OrgPolicy())
        #expect(evaluator.isExpired(RetainedRecord(kind: .privateContent, since: 100), now: 100).allowed)
        #expect(!evaluator.isExpired(RetainedRecord(kind: .privateContent, since: 100), now: 99).allowed)
    }

    @Test("who may change what: admins all; members only their own privacy, not off when enforced; auditors nothing")
    func mayChange() {
        var policy = Fixture.policy
        let evaluator = PolicyEvaluator(policy)
        #expect(evaluator.mayChange(carol, setting: "network.mode").allowed)
        #expect(!evaluator.mayChange(alice, setting: "network.mode").allowed)
        #expect(!evaluator.mayChange(alice, setting: "security.teamFollowUps").allowed)
        #expect(evaluator.mayChange(alice, setting: "privacy.users.alice", newValue: "off").allowed)
        #expect(!evaluator.mayChange(alice, setting: "privacy.users.bob", newValue: "off").allowed)
        #expect(!evaluator.mayChange(dave, setting: "privacy.users.dave", newValue: "on").allowed)
        #expect(!evaluator.mayChange(Fixture.stranger, setting: "network.mode").allowed)
        #expect(evaluator.mayChange(Principal(uid: 0, kind: .root), setting: "network.mode").allowed)
        #expect(!evaluator.mayChange(Principal(uid: 77, kind: .stranger), setting: "network.mode").allowed)
        policy.privacy.enforced = true
        let enforced = PolicyEvaluator(policy).mayChange(alice, setting: "privacy.users.alice", newValue: "off")
        #expect(!enforced.allowed && enforced.rule == "privacy.enforced")
        #expect(PolicyEvaluator(policy).mayChange(alice, setting: "privacy.users.alice", newValue: "on").allowed)
    }

    @Test("weakening options need a grant; required layers cannot be given up by anyone (R24)")
    func mayWeaken() {
        var policy = Fixture.policy
        #expect(!PolicyEvaluator(policy).mayWeaken(alice, option: .allowDegraded, layer: .landlock).allowed)
        #expect(PolicyEvaluator(policy).mayWeaken(carol, option: .allowDegraded, layer: .landlock).allowed)
        #expect(!PolicyEvaluator(policy).mayWeaken(carol, option: .allowDegraded, layer: .seccomp).allowed)
        #expect(!PolicyEvaluator(policy).mayWeaken(Fixture.stranger, option: .readWriteBind).allowed)
        policy.sandbox.weakening[.readWriteBind] = WeakeningGrant(roles: [.admin], users: ["alice"])
        policy.sandbox.weakening[.customSeccomp] = WeakeningGrant(roles: [.member])
        let evaluator = PolicyEvaluator(policy)
        #expect(evaluator.mayWeaken(alice, option: .readWriteBind).allowed)
        #expect(!evaluator.mayWeaken(bob, option: .readWriteBind).allowed)
        #expect(evaluator.mayWeaken(bob, option: .customSeccomp).allowed)
        #expect(!evaluator.mayWeaken(dave, option: .customSeccomp).allowed)
        #expect(evaluator.mayWeaken(bob, option: .customSeccomp).rule == "sandbox.weakening.seccomp")
    }

    @Test("visibility (R25): members see their own; auditors read all and act on none; admins everything")
    func visibility() {
        var policy = Fixture.policy
        let agent = AgentRef(id: "a1", owner: "alice")
        var evaluator = PolicyEvaluator(policy)
        for action in AgentAction.allCases {
            #expect(evaluator.mayAct(alice, action, agent: agent).allowed, "\(action)")
            #expect(evaluator.mayAct(carol, action, agent: agent).allowed, "\(action)")
            #expect(!evaluator.mayAct(bob, action, agent: agent).allowed, "\(action)")
            #expect(evaluator.mayAct(dave, action, agent: agent).allowed == (action == .see || action == .readContent), "\(action)")
        }
        #expect(evaluator.mayViewAudit(dave, recordOwner: "alice").allowed)
        #expect(evaluator.mayViewAudit(alice, recordOwner: "alice").allowed)
        #expect(!evaluator.mayViewAudit(bob, recordOwner: "alice").allowed)
        policy.visibility.agents = .team
        evaluator = PolicyEvaluator(policy)
        #expect(evaluator.mayAct(bob, .see, agent: agent).allowed)
        #expect(!evaluator.mayAct(bob, .readContent, agent: agent).allowed)
        #expect(!evaluator.mayAct(bob, .attach, agent: agent).allowed, "attach is the owner's and admins' only")
    }

    @Test("summaries: display off hides diffs everywhere; external needs its own switch")
    func summaries() {
        var policy = Fixture.policy
        #expect(PolicyEvaluator(policy).maySeeSummary(alice, channel: .app).allowed)
        #expect(!PolicyEvaluator(policy).maySeeSummary(alice, channel: .external).allowed)
        policy.security.displaySummaryExternal = true
        #expect(PolicyEvaluator(policy).maySeeSummary(alice, channel: .external).allowed)
        policy.security.displaySummary = false
        #expect(!PolicyEvaluator(policy).maySeeSummary(alice, channel: .external).allowed)
        #expect(PolicyEvaluator(policy).maySeeSummary(alice, channel: .app).rule == "security.displaySummary")
    }

    @Test("principals: root is the bootstrap admin; listed users have their role; others are strangers")
    func principals() {
        let policy = Fixture.policy
        #expect(Principal.resolve(uid: 0, policy: policy).isAdmin)
        #expect(Principal.resolve(uid: 1001, policy: policy).role == .member)
        #expect(Principal.resolve(uid: 1003, policy: policy).isAdmin)
        #expect(Principal.resolve(uid: 4000, policy: policy).role == nil)
    }
}
