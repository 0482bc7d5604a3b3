import Foundation
import Store
import Testing

/// `warden agent list|show` through the supervisor: each caller sees what the policy lets them
/// see (R25), and nothing from an agent reaches the terminal with its escapes (R13).
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AgentQueryTests {
    let supervisor: SupervisorFixture

    init() throws {
        supervisor = try SupervisorFixture()
        let store = try AgentStore(path: AgentStore.path(home: supervisor.home))
        for (id, owner, uid, repository) in [("a-alice", "alice", UInt32(4242), "/srv/app"), ("a-bob", "bob", UInt32(4243), "/srv/\u{1B}]0;pwned\u{07}lib")] {
            try store.create(AgentRecord(id: id, name: "", owner: owner, ownerUID: uid, repository: repository, baseBranch: "main", model: "m",
                                         command: ["agent"], privacy: true, policyVersion: 1, created: 1_790_000_000_000))
        }
        try store.transition("a-bob", to: .stopped, reason: "stopped by bob \u{1B}[2J", at: 1_790_000_001_000)
    }

    func ids(_ result: Warden.Result) -> [String] {
        ((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
    }

    @Test func membersSeeTheirOwnAdminsAndAuditorsSeeAll() {
        #expect(ids(supervisor.warden(["agent", "list", "--all", "--json"], as: 4242)) == ["a-alice"])
        #expect(Set(ids(supervisor.warden(["agent", "list", "--all", "--json"], as: 4244))) == ["a-alice", "a-bob"])
        #expect(Set(ids(supervisor.warden(["agent", "list", "--all", "--json"], as: 4245))) == ["a-alice", "a-bob"])
        #expect(ids(supervisor.warden(["agent", "list", "--json"], as: 4244)) == ["a-alice"], "ended agents need --all")
        #expect(ids(supervisor.warden(["agent", "list", "--state", "stopped", "--json"], as: 4244)) == ["a-bob"])
        let stranger = supervisor.warden(["agent", "list"], as: 4343)
        #expect(stranger.status == 123, "\(stranger.stderr)")
    }

    @Test func showIsRefusedToOthersAndStripsTerminalControls() {
        let own = supervisor.warden(["agent", "show", "a-alice"], as: 4242)
        #expect(own.status == 0 && own.stdout.contains("branch      warden/a-alice from main"), "\(own.stdout) \(own.stderr)")
        let other = supervisor.warden(["agent", "show", "a-bob"], as: 4242)
        #expect(other.status == 123, "\(other.stderr)")
        let admin = supervisor.warden(["agent", "show", "a-bob"], as: 4244)
        #expect(admin.status == 0, "\(admin.stderr)")
        #expect(!admin.stdout.contains("\u{1B}") && !admin.stdout.contains("\u{07}"), "terminal controls from the agent's record reach the terminal")
        #expect(admin.stdout.contains("stopped"))
        let table = supervisor.warden(["agent", "list", "--all"], as: 4244)
        #expect(!table.stdout.contains("\u{1B}"))
    }

    @Test func badInput() {
        #expect(supervisor.warden(["agent", "show", "nope"], as: 4242).status == 1)
        let state = supervisor.warden(["agent", "list", "--state", "sleeping"], as: 4242)
        #expect(state.status == 125 && state.stderr.contains("expected one of queued"), "\(state.stderr)")
    }
}
