import Foundation
import Store
import Testing

/// `warden gc` through the real binary: expired ended agents lose their data, recorded; the
/// others keep theirs.
@Suite(.enabled(if: Warden.isRoot))
struct GCTests {
    let home = NSTemporaryDirectory() + "warden-gc-" + UUID().uuidString

    @Test func expiredEndedAgentsAreSweptAndRecorded() throws {
        try FileManager.default.createDirectory(atPath: home + "/agents", withIntermediateDirectories: true)
        _ = Warden.execute(Warden.adminBinary, ["retention", "set", "3d", "--home", home])
        let store = try AgentStore(path: AgentStore.path(home: home))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (id, age) in [("00000000001d", Int64(5)), ("00000000002d", Int64(1))] {
            let ended = now - age * 86_400_000
            try store.create(AgentRecord(id: id, name: "", owner: "alice", ownerUID: 4242, repository: "/r", baseBranch: "main", model: "m",
                                         command: ["a"], privacy: false, policyVersion: 1, created: ended - 10))
            try store.transition(id, to: .preparing, reason: "", at: ended - 5)
            try store.transition(id, to: .running, reason: "", at: ended - 4)
            try store.transition(id, to: .finished, reason: "done", at: ended)
            try FileManager.default.createDirectory(atPath: home + "/agents/\(id)/inbox", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: home + "/workspaces/\(id)/workspace", withIntermediateDirectories: true)
        }
        let dry = Warden.execute(Warden.binary, ["gc", "--home", home, "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("would remove the data of agent 00000000001d"), "\(dry.stdout) \(dry.stderr)")
        #expect(FileManager.default.fileExists(atPath: home + "/agents/00000000001d"))
        let result = Warden.execute(Warden.binary, ["gc", "--home", home])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("removed the data of agent 00000000001d"))
        #expect(result.stdout.contains("kept 00000000002d"))
        #expect(!FileManager.default.fileExists(atPath: home + "/agents/00000000001d"))
        #expect(FileManager.default.fileExists(atPath: home + "/agents/00000000002d"))
        #expect(!FileManager.default.fileExists(atPath: home + "/workspaces/00000000001d"))
        #expect(FileManager.default.fileExists(atPath: home + "/workspaces/00000000002d/workspace"))
        #expect(try store.get("00000000001d")?.dataRemoved == true)
    }
}
