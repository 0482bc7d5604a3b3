import Agent
import Foundation
import Policy
import Store
import Testing

/// The retention sweep: ended agents' data goes after retention.agentData, recorded; live
/// agents and links out of an agent's directory are never followed or touched.
struct RetentionSweepTests {
    let base = NSTemporaryDirectory() + "warden-retention-" + UUID().uuidString
    var agentsDirectory: String { base + "/agents" }
    var layout: AgentLayout { AgentLayout(home: base) }
    let old1 = "0000000000a1", new1 = "0000000000b1", live1 = "0000000000c1"
    let day: Int64 = 86_400_000
    let now: Int64 = 1_800_000_000_000

    func setUp() throws -> (AgentStore, OrgPolicy) {
        try FileManager.default.createDirectory(atPath: agentsDirectory, withIntermediateDirectories: true)
        let store = try AgentStore(path: AgentStore.path(home: base))
        var policy = OrgPolicy()
        policy.retention.agentData = try PolicyDuration.parse("3d")
        return (store, policy)
    }

    func add(_ store: AgentStore, _ id: String, ending: AgentState?, at time: Int64) throws {
        try store.create(AgentRecord(id: id, name: "", owner: "alice", ownerUID: 4242, repository: "/r", baseBranch: "main", model: "m",
                                     command: ["a"], privacy: false, policyVersion: 1, created: time - 10))
        try store.transition(id, to: .preparing, reason: "", at: time - 5)
        try store.transition(id, to: .running, reason: "", at: time - 4)
        if let ending { try store.transition(id, to: ending, reason: "ended", at: time) }
        try FileManager.default.createDirectory(atPath: layout.workspace(id), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layout.directory(id), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: layout.log(id), contents: Data("log".utf8))
    }

    @Test func onlyExpiredEndedAgentsLoseTheirDataAndEachRemovalIsRecorded() throws {
        let (store, policy) = try setUp()
        try add(store, old1, ending: .finished, at: now - 4 * day)
        try add(store, new1, ending: .failed, at: now - 1 * day)
        try add(store, live1, ending: nil, at: now - 30 * day)
        // A link the agent left, pointing outside its directory: the target must survive.
        let outside = base + "/outside.txt"
        FileManager.default.createFile(atPath: outside, contents: Data("keep".utf8))
        try FileManager.default.createSymbolicLink(atPath: layout.workspace(old1) + "/link", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: layout.workspace(old1) + "/dirlink", withDestinationPath: base)
        // A name that is not UTF-8 must not make the data undeletable.
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", "import os; os.makedirs(os.fsencode('\(layout.workspace(old1))/') + b'\\xff\\xfe/sub'); open(os.fsencode('\(layout.workspace(old1))/') + b'\\xff\\xfe/sub/\\xff', 'w').close()"]
        try python.run()
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)

        let dry = RetentionSweep.run(agents: store, policy: policy, layout: layout, now: now, dryRun: true)
        #expect(dry.removed == [old1])
        #expect(FileManager.default.fileExists(atPath: layout.directory(old1)), "a dry run deletes nothing")

        let outcome = RetentionSweep.run(agents: store, policy: policy, layout: layout, now: now)
        #expect(outcome.removed == [old1], "\(outcome)")
        #expect(outcome.failures.isEmpty)
        #expect(outcome.kept.count == 1 && outcome.kept[0].hasPrefix(new1 + ":"))
        #expect(!FileManager.default.fileExists(atPath: layout.directory(old1)))
        #expect(!FileManager.default.fileExists(atPath: layout.checkout(old1)), "the clone goes too")
        #expect(FileManager.default.fileExists(atPath: layout.log(new1)))
        #expect(FileManager.default.fileExists(atPath: layout.log(live1)), "a live agent is never swept")
        #expect(FileManager.default.contents(atPath: outside) == Data("keep".utf8))
        #expect(FileManager.default.fileExists(atPath: base + "/agents"))
        #expect(try store.get(old1)?.dataRemoved == true)
        #expect((try store.history(old1).last?.reason ?? "").contains("retention.agentData"))

        let again = RetentionSweep.run(agents: store, policy: policy, layout: layout, now: now)
        #expect(again.removed.isEmpty, "swept once")
        #expect(throws: StoreError.self) { try store.markDataRemoved(live1, reason: "", at: now) }
    }
}
