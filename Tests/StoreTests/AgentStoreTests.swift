import Foundation
import Store
import Testing

/// Agents and their lives: only allowed transitions, each with time and reason, kept across
/// restarts; one winner when two processes race to end an agent.
struct AgentStoreTests {
    let path: String

    init() throws {
        let directory = NSTemporaryDirectory() + "warden-agents-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = AgentStore.path(home: directory)
    }

    func agent(_ id: String, name: String = "", owner: String = "alice", repository: String = "/srv/repos/app", created: Int64 = 1_000) -> AgentRecord {
        AgentRecord(id: id, name: name, owner: owner, ownerUID: 4242, repository: repository, baseBranch: "main", model: "model-x",
                    command: ["my-agent", "--flag=a b", "colon:1:2", "new\nline", ""], privacy: true, policyVersion: 7, created: created)
    }

    @Test func lifeFromQueuedToFinishedIsRecordedAndSurvivesReopening() throws {
        let store = try AgentStore(path: path)
        try store.create(agent("a1", name: "fix-tests"))
        try store.transition("a1", to: .preparing, reason: "cloning", at: 1_001)
        try store.transition("a1", to: .running, reason: "agent started", at: 1_002)
        try store.transition("a1", to: .finished, reason: "exit status 0; branch pushed", at: 1_003)
        let reopened = try AgentStore(path: path)
        let record = try #require(try reopened.get("a1"))
        #expect(record.state == .finished && record.reason == "exit status 0; branch pushed" && record.updated == 1_003)
        #expect(record.branch == "warden/fix-tests")
        #expect(record.command == ["my-agent", "--flag=a b", "colon:1:2", "new\nline", ""])
        #expect(record.privacy && record.policyVersion == 7)
        #expect(try reopened.history("a1").map(\.state) == [.queued, .preparing, .running, .finished])
        #expect(try reopened.history("a1").map(\.time) == [1_000, 1_001, 1_002, 1_003])
    }

    @Test func forbiddenTransitionsAreRefusedAndChangeNothing() throws {
        let store = try AgentStore(path: path)
        try store.create(agent("a2"))
        #expect(throws: StoreError.self) { try store.transition("a2", to: .finished, reason: "skip", at: 2) }
        try store.transition("a2", to: .stopped, reason: "stopped by alice", at: 3)
        for next in AgentState.allCases {
            #expect(throws: StoreError.self, "\(next)") { try store.transition("a2", to: next, reason: "again", at: 4) }
        }
        #expect(try store.get("a2")?.state == .stopped)
        #expect(try store.history("a2").count == 2)
        #expect(throws: StoreError.self) { try store.transition("nope", to: .preparing, reason: "", at: 5) }
    }

    @Test func twoWritersRacingToEndAnAgentHaveOneWinner() throws {
        let first = try AgentStore(path: path)
        let second = try AgentStore(path: path)
        try first.create(agent("a3"))
        try first.transition("a3", to: .preparing, reason: "", at: 1)
        try first.transition("a3", to: .running, reason: "", at: 2)
        let outcomes = [Result { () throws(StoreError) in try first.transition("a3", to: .finished, reason: "done", at: 3) },
                        Result { () throws(StoreError) in try second.transition("a3", to: .stopped, reason: "stop", at: 3) }]
        #expect(outcomes.filter { if case .success = $0 { return true } else { return false } }.count == 1)
        #expect(try first.history("a3").count == 4)
    }

    @Test func aBranchIsTakenOncePerRepository() throws {
        let store = try AgentStore(path: path)
        try store.create(agent("a4", name: "same"))
        #expect(throws: StoreError.self) { try store.create(agent("a5", name: "same")) }
        try store.create(agent("a6", name: "same", repository: "/srv/repos/other"))
    }

    @Test func listingFiltersByOwnerStateAndSearchNewestFirst() throws {
        let store = try AgentStore(path: path)
        try store.create(agent("b1", name: "docs_fix", created: 10))
        try store.create(agent("b2", name: "perf", owner: "bob", created: 20))
        try store.create(agent("b3", name: "100%", created: 30))
        try store.transition("b1", to: .stopped, reason: "", at: 40)
        #expect(try store.list().map(\.id) == ["b3", "b2"], "ended agents need --all")
        #expect(try store.list(includeEnded: true).map(\.id) == ["b3", "b2", "b1"])
        #expect(try store.list(owner: "bob").map(\.id) == ["b2"])
        #expect(try store.list(state: .stopped).map(\.id) == ["b1"])
        #expect(try store.list(search: "DOCS", includeEnded: true).map(\.id) == ["b1"])
        #expect(try store.list(search: "%", includeEnded: true).map(\.id) == ["b3"], "LIKE wildcards match themselves")
        #expect(try store.list(search: "_", includeEnded: true).map(\.id) == ["b1"])
    }

    @Test(arguments: ["fix-tests", "v1.2", "a_b", "x"])
    func goodNames(_ name: String) { #expect(AgentRecord.isValidName(name)) }

    @Test(arguments: ["", "-x", ".x", "a..b", "a b", "a/b", "x.lock", "x.", String(repeating: "a", count: 65), "ü"])
    func badNames(_ name: String) { #expect(!AgentRecord.isValidName(name)) }
}
