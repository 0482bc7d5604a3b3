import Agent
import Foundation
import Testing

/// The agent's working tree, cloned as the developer (root runs the supervisor, uid 4242 here
/// plays the developer).
@Suite(.serialized, .enabled(if: getuid() == 0))
struct AgentWorkspaceTests {
    let base = NSTemporaryDirectory() + "warden-workspace-" + UUID().uuidString
    var origin: String { base + "/origin" }
    let developer: UInt32 = 4242

    @discardableResult
    func sh(_ script: String) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try? process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    init() {
        // The developer's own repository, owned by them.
        sh("""
            set -e; mkdir -p '\(origin)'; cd '\(origin)'; git init -q -b main
            git -c user.name=dev -c user.email=dev@example.test commit -q --allow-empty -m base
            git branch dev; chmod 755 '\(base)'; chown -R \(developer):\(developer) '\(origin)'
            """)
    }

    @Test func clonedAsTheDeveloperWithTheAgentBranchFromTheBase() throws {
        let workspace = try AgentWorkspace.prepare(repository: origin, baseBranch: "main", branch: "warden/fix-tests", directory: base + "/a1",
                                                   uid: developer, gid: developer, home: "/nonexistent")
        #expect(sh("stat -c %u '\(workspace.path)'").1 == "\(developer)")
        #expect(sh("stat -c %a '\(base)/a1'").1 == "700")
        #expect(sh("git -C '\(workspace.path)' -c safe.directory='*' rev-parse --abbrev-ref HEAD").1 == "warden/fix-tests")
        #expect(sh("git -C '\(workspace.path)' -c safe.directory='*' rev-parse HEAD").1 == sh("git -C '\(origin)' -c safe.directory='*' rev-parse main").1)
    }

    @Test func unknownBaseBranchOrRepositoryIsAClearError() {
        #expect(throws: WorkspaceError.self) {
            try AgentWorkspace.prepare(repository: origin, baseBranch: "nope", branch: "warden/x", directory: base + "/a2", uid: developer, gid: developer, home: "/nonexistent")
        }
        do {
            _ = try AgentWorkspace.prepare(repository: base + "/missing", baseBranch: "main", branch: "warden/x", directory: base + "/a3",
                                           uid: developer, gid: developer, home: "/nonexistent")
            Issue.record("a missing repository was cloned")
        } catch {
            #expect(error.message.hasPrefix("git could not clone"), "\(error)")
        }
    }

    @Test(arguments: [("-uhelp", "main", "warden/x"), (".", "ma..in", "warden/x"), (".", "main", "warden/x.lock"), (".", "main", "-b"), (".", "main", "a b")])
    func badInputIsRefusedBeforeGitRuns(_ repository: String, _ baseBranch: String, _ branch: String) {
        #expect(throws: WorkspaceError.self) {
            try AgentWorkspace.prepare(repository: repository, baseBranch: baseBranch, branch: branch, directory: base + "/bad-\(UUID().uuidString)",
                                       uid: developer, gid: developer, home: "/nonexistent")
        }
    }

    @Test func anExistingDirectoryIsNotReused() throws {
        try FileManager.default.createDirectory(atPath: base + "/taken", withIntermediateDirectories: true)
        #expect(throws: WorkspaceError.self) {
            try AgentWorkspace.prepare(repository: origin, baseBranch: "main", branch: "warden/y", directory: base + "/taken", uid: developer, gid: developer, home: "/nonexistent")
        }
    }
}
