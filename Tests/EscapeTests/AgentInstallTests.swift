import Foundation
import Testing

/// environment.json's `install` through the real binaries as root: it runs once as root inside
/// the sandbox (install profile, Warden's non-setuid sudo), its disk state becomes a snapshot
/// in overlay layers, the next agent reuses it without running install, and the host never
/// changes.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AgentInstallTests {
    static let package = "warden-test-hello"

    /// A tiny .deb built in the repository (dpkg-deb), installed by `sudo apt-get install`.
    static func buildPackage(in seed: String) throws {
        let root = seed + "/pkg"
        try FileManager.default.createDirectory(atPath: root + "/DEBIAN", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
        try "Package: \(package)\nVersion: 1.0\nArchitecture: all\nMaintainer: Warden tests <t@t.invalid>\nDescription: a test package\n"
            .write(toFile: root + "/DEBIAN/control", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho hello-from-the-snapshot\n".write(toFile: root + "/usr/bin/\(package)", atomically: true, encoding: .utf8)
        chmod(root + "/usr/bin/\(package)", 0o755)
        let built = Warden.execute("/usr/bin/dpkg-deb", ["--build", "--root-owner-group", root, seed + "/\(package).deb"])
        #expect(built.status == 0, "\(built.stderr)")
        try FileManager.default.removeItem(atPath: root)
    }

    static let environment = """
        {
          // Real files do this: system packages with sudo, then files in $HOME.
          "install": "(cat /etc/shadow >/dev/null 2>&1 && echo host-secret-readable || echo host-secret-unreadable) && sudo apt-get install -y -q ./warden-test-hello.deb && echo installed-$((2+3)) && echo 'export FROM_INSTALL=yes' >> ~/.profile && touch /opt/install-ran-$(date +%s%N) && (setsid sleep 317 >/dev/null 2>&1 &)"
        }
        """

    static let program = """
        #!/bin/sh
        warden-test-hello
        dpkg-query -W -f='status: ${Status}\\n' warden-test-hello
        echo "install runs: $(ls /opt | grep -c install-ran)"
        grep -q FROM_INSTALL ~/.profile && echo "home: from install"
        echo "agent uid: $(id -u)"
        touch ~/agent-was-here /tmp/x && echo "home writable"
        touch /usr/bin/agent-was-here 2>/dev/null || echo "usr read-only for the agent"
        """

    let agents: AgentFixture

    init() throws {
        agents = try AgentFixture(files: [".cursor/environment.json": Self.environment, "agent.sh": Self.program],
                                  prepare: Self.buildPackage(in:))
    }

    @Test func installRunsOnceAsRootInsideAndItsSnapshotIsReusedWhileTheHostStaysUntouched() throws {
        guard let first = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(first, seconds: 180) == "finished", "\(agents.history(first))")
        let firstLog = agents.warden(["agent", "logs", first]).stdout
        #expect(firstLog.contains("installed-5"), "install ran for the first agent: \(firstLog)")
        #expect(firstLog.contains("host-secret-unreadable") && !firstLog.contains("host-secret-readable"),
                "install's root (with dac_override) never sees the host's /etc/shadow: \(firstLog)")
        #expect(firstLog.contains("hello-from-the-snapshot"), "the package is in the agent's sandbox: \(firstLog)")
        #expect(firstLog.contains("status: install ok installed"), "\(firstLog)")
        #expect(firstLog.contains("install runs: 1") && firstLog.contains("home: from install"), "\(firstLog)")
        #expect(firstLog.contains("agent uid: 1000") && firstLog.contains("home writable") && firstLog.contains("usr read-only for the agent"), "\(firstLog)")
        let survivors = Warden.execute("/usr/bin/pgrep", ["-f", "sleep 317"])
        #expect(survivors.status != 0, "processes started by install do not survive it: \(survivors.stdout)")
        #expect(agents.history(first).contains { $0.hasPrefix("install: ran in") }, "\(agents.history(first))")

        // The host: no package, no file.
        #expect(!FileManager.default.fileExists(atPath: "/usr/bin/\(Self.package)"))
        #expect(Warden.execute("/usr/bin/dpkg-query", ["-W", Self.package]).status != 0, "the host's package database is unchanged")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: "/opt"))?.contains { $0.hasPrefix("install-ran") } != true)

        guard let second = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(second, seconds: 120) == "finished", "\(agents.history(second))")
        let secondLog = agents.warden(["agent", "logs", second]).stdout
        #expect(!secondLog.contains("installed-5"), "install did not run again: \(secondLog)")
        #expect(secondLog.contains("install runs: 1"), "the counter the install keeps is still 1: \(secondLog)")
        #expect(secondLog.contains("hello-from-the-snapshot") && secondLog.contains("home: from install"), "\(secondLog)")
        #expect(agents.history(second).contains { $0.contains("install: not run: snapshot") && $0.contains("reused") }, "\(agents.history(second))")
        // What the first agent wrote in $HOME was discarded, not added to the snapshot.
        #expect(!secondLog.contains("agent-was-here"))
        let snapshots = (try? FileManager.default.contentsOfDirectory(atPath: agents.home + "/snapshots")) ?? []
        #expect(snapshots.filter { !$0.hasPrefix(".") }.count == 1, "\(snapshots)")
    }

    @Test func aFailingInstallFailsTheAgentAndKeepsNoSnapshot() throws {
        let fixture = try AgentFixture(files: [".cursor/environment.json": #"{"install": "echo trying; exit 3"}"#])
        guard let id = fixture.start(["/bin/true"]) else { return }
        #expect(fixture.wait(id, seconds: 120) == "failed")
        let reason = fixture.show(id)["reason"] as? String ?? ""
        #expect(reason.contains("install failed") && reason.contains("exit status 3"), "\(reason)")
        let snapshots = (try? FileManager.default.contentsOfDirectory(atPath: fixture.home + "/snapshots")) ?? []
        #expect(snapshots.isEmpty, "\(snapshots)")
    }
}
