import Foundation
import Testing

/// `warden-admin` and `warden run` against a temporary Warden home, through the real
/// binaries. Members are real OS uids (setpriv), so identity comes from the kernel.
@Suite("Policy through the command line", .serialized)
struct PolicyCLITests {
    static let aliceUID = 4242

    /// A Warden home under a workspace's scratch directory, root's all the way up (as a policy
    /// home must be to bind anyone else); root bootstraps it.
    final class Home {
        let workspace = Workspace()
        var path: String { workspace.scratch + "/home" }

        init() {
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for directory in [workspace.root, workspace.scratch, path] { chmod(directory, 0o755) }
        }

        func admin(_ arguments: [String], as uid: Int? = nil, stdin: String? = nil) -> Warden.Result {
            var environment = ["WARDEN_HOME": path, "PATH": "/usr/bin:/bin"]
            if let policyDirectory = ProcessInfo.processInfo.environment["WARDEN_POLICY_DIR"] { environment["WARDEN_POLICY_DIR"] = policyDirectory }
            guard let uid else { return Warden.execute(Warden.adminBinary, arguments, environment: environment, stdin: stdin) }
            return Warden.execute("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", Warden.adminBinary] + arguments,
                                  environment: environment, stdin: stdin)
        }

        func json(_ arguments: [String]) throws -> Any {
            let result = admin(arguments + ["--json"])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        }

        func versions() throws -> [Int] {
            try (json(["history"]) as? [[String: Any]] ?? []).compactMap { $0["version"] as? Int }
        }

        func decisions() throws -> [[String: Any]] { try json(["decisions"]) as? [[String: Any]] ?? [] }
    }

    @Test("a member's refused change prints why, exits 123, changes nothing and is recorded")
    func memberRefused() throws {
        let home = Home()
        #expect(home.admin(["users", "add", "alice", "--uid", "\(Self.aliceUID)"]).status == 0)
        let before = try home.admin(["export"]).stdout
        let refused = home.admin(["set", "network.mode", "open"], as: Self.aliceUID)
        #expect(refused.status == 123, "\(refused.stderr)")
        #expect(refused.stderr.contains("only admins may change network.mode") && refused.stderr.contains("nothing was changed"))
        #expect(home.admin(["export"]).stdout == before)
        #expect(try home.versions() == [1])
        let recorded = try home.decisions()
        #expect(recorded.count == 1)
        #expect((recorded.first?["actor"] as? [String: Any])?["name"] as? String == "alice")
        #expect((recorded.first?["decision"] as? [String: Any])?["allowed"] as? Bool == false)
        // Members may read. The policy lets them set their own privacy mode, but the store is
        // root's: until the daemon writes for them, the change is allowed and cannot be saved.
        #expect(home.admin(["get", "network.mode"], as: Self.aliceUID).stdout == "allowlist\n")
        let own = home.admin(["privacy", "set", "off", "--user", "alice"], as: Self.aliceUID)
        #expect(own.status == 120 && own.stderr.contains("read-only for uid 4242"), "\(own.stderr)")
        // Unless privacy is enforced: then the policy itself refuses.
        #expect(home.admin(["privacy", "set", "on", "--enforce"]).status == 0)
        let enforced = home.admin(["set", "privacy.users.alice", "off"], as: Self.aliceUID)
        #expect(enforced.status == 123 && enforced.stderr.contains("privacy.enforced"), "\(enforced.stderr)")
    }

    @Test("a home the caller can write binds nobody: a member's own home gives them no rights (R24)")
    func ownHomeGrantsNothing() throws {
        let home = Home()
        #expect(home.admin(["users", "add", "alice", "--uid", "\(Self.aliceUID)"]).status == 0)
        let own = home.workspace.scratch + "/alice-home"
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        #expect(chown(own, uid_t(Self.aliceUID), gid_t(Self.aliceUID)) == 0)
        let explicit = home.admin(["set", "--home", own, "network.mode", "open"], as: Self.aliceUID)
        #expect(explicit.status == 125 && explicit.stderr.contains("would bind no one"), "\(explicit.stderr)")
        // A WARDEN_HOME of her own is not where her policy lives: the system home is, where she
        // is nobody, so she may not give layers up.
        let workspace = Workspace()
        chmod(workspace.root, 0o755)
        #expect(chown(workspace.path, uid_t(Self.aliceUID), gid_t(Self.aliceUID)) == 0)
        let run = Warden.execute("/usr/bin/setpriv", ["--reuid=\(Self.aliceUID)", "--regid=\(Self.aliceUID)", "--clear-groups", Warden.binary, "run",
                                                     "--allow-degraded", "identity,cgroups", "--", "true"],
                                 directory: workspace.path, environment: ["WARDEN_HOME": own, "PATH": "/usr/bin:/bin", "HOME": own])
        #expect(run.status == 123 || run.status == 120, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: own + "/policy.db"))
    }

    @Test("members read a root-owned store they cannot write; their refusals go to their own journal")
    func memberReadsRootStore() throws {
        let home = Home()
        #expect(home.admin(["users", "add", "alice", "--uid", "\(Self.aliceUID)"]).status == 0)
        #expect(home.admin(["users", "add", "bob", "--uid", "4343"]).status == 0)
        let read = home.admin(["get", "users.alice"], as: Self.aliceUID)
        #expect(read.status == 0 && read.stdout == "uid 4242, member\n", "\(read.stderr)")
        #expect(home.admin(["set", "network.mode", "open"], as: Self.aliceUID).status == 123)
        #expect(home.admin(["set", "network.mode", "monitor"], as: 4343).status == 123)
        #expect(home.admin(["get", "network.mode"]).stdout == "allowlist\n")
        let all = try home.decisions()
        #expect(Set(all.compactMap { ($0["actor"] as? [String: Any])?["name"] as? String }) == ["alice", "bob"])
        // R25: a member sees only their own records.
        let own = home.admin(["decisions", "--json"], as: Self.aliceUID)
        let mine = try JSONSerialization.jsonObject(with: Data(own.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(mine.count == 1 && (mine.first?["actor"] as? [String: Any])?["name"] as? String == "alice", "\(own.stdout)\(own.stderr)")
        // Nobody can write into another's journal file.
        let forged = home.path + "/journal/4343"
        let attempt = Warden.execute("/usr/bin/setpriv", ["--reuid=\(Self.aliceUID)", "--regid=\(Self.aliceUID)", "--clear-groups", "sh", "-c",
                                                         "echo x >> \(forged)"])
        #expect(attempt.status != 0)
    }

    @Test("a member's warden run --allow-degraded is refused unless the policy grants it; both are recorded (R24)")
    func memberWeakening() throws {
        let home = Home()
        #expect(home.admin(["users", "add", "alice", "--uid", "\(Self.aliceUID)"]).status == 0)
        let workspace = home.workspace
        chmod(workspace.root, 0o755)
        #expect(chown(workspace.path, uid_t(Self.aliceUID), gid_t(Self.aliceUID)) == 0)
        let run = ["--reuid=\(Self.aliceUID)", "--regid=\(Self.aliceUID)", "--clear-groups", Warden.binary, "run",
                   "--allow-degraded", "identity,cgroups", "--", "sh", "-c", "touch /workspace/ran"]
        let environment = ["WARDEN_HOME": home.path, "PATH": "/usr/bin:/bin"]
        let refused = Warden.execute("/usr/bin/setpriv", run, directory: workspace.path, environment: environment)
        #expect(refused.status == 123, "\(refused.stderr)")
        #expect(refused.stderr.contains("refused by the organisation's policy") && refused.stderr.contains("sandbox.weakening.allow-degraded"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")), "nothing ran")
        var recorded = try home.decisions()
        #expect(recorded.count == 2 && recorded.allSatisfy { ($0["decision"] as? [String: Any])?["allowed"] as? Bool == false })

        #expect(home.admin(["set", "sandbox.weakening.allow-degraded", "role:admin,user:alice"]).status == 0)
        let granted = Warden.execute("/usr/bin/setpriv", run, directory: workspace.path, environment: environment)
        #expect(granted.status == 0, "\(granted.stderr)")
        #expect(FileManager.default.fileExists(atPath: workspace.file("ran")))
        recorded = try home.decisions()
        #expect(recorded.count == 4)
        #expect(recorded.filter { ($0["decision"] as? [String: Any])?["allowed"] as? Bool == true }.count == 2)

        // A layer the policy requires cannot be given up even by an admin.
        let seccomp = Warden.execute(Warden.binary, ["run", "--allow-degraded", "seccomp", "--", "true"], directory: workspace.path, environment: environment)
        #expect(seccomp.status == 123 && seccomp.stderr.contains("sandbox.requiredLayers"), "\(seccomp.stderr)")
    }

    @Test("warden run takes its default limits from the policy")
    func runDefaults() throws {
        let home = Home()
        #expect(home.admin(["set", "sandbox.memory", "256M"]).status == 0)
        #expect(home.admin(["set", "sandbox.timeout", "1s"]).status == 0)
        let environment = ["WARDEN_HOME": home.path, "PATH": "/usr/bin:/bin"]
        let manifest = home.workspace.scratch + "/m.json"
        let result = Warden.execute(Warden.binary, ["run", "--manifest", manifest, "--", "sleep", "5"], directory: home.workspace.path,
                                    environment: environment, timeout: 30)
        #expect(result.status == 124, "the policy's 1s timeout applies: \(result.stderr)")
        let explicit = Warden.execute(Warden.binary, ["run", "--timeout", "10", "--", "sleep", "2"], directory: home.workspace.path,
                                      environment: environment, timeout: 30)
        #expect(explicit.status == 0, "an explicit --timeout overrides the default: \(explicit.stderr)")
    }

    @Test("apply, history, diff and rollback round-trip; --dry-run writes nothing")
    func applyRollback() throws {
        let home = Home()
        let exported = home.admin(["export"]).stdout
        let file = home.workspace.scratch + "/policy.yaml"
        let edited = exported.replacingOccurrences(of: "  mode: allowlist", with: "  mode: monitor")
            .replacingOccurrences(of: "  teamFollowUps: true", with: "  teamFollowUps: false")
        try edited.write(toFile: file, atomically: true, encoding: .utf8)

        let dry = home.admin(["apply", file, "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("network.mode: allowlist -> monitor"), "\(dry.stdout)\(dry.stderr)")
        #expect(try home.versions() == [])
        #expect(home.admin(["apply", file]).status == 0)
        #expect(home.admin(["network", "deny", "add", "*.evil.test"]).status == 0)
        #expect(try home.versions() == [2, 1])
        #expect(home.admin(["get", "network.mode"]).stdout == "monitor\n")

        let diff = try home.json(["diff", "1", "2"]) as? [[String: Any]]
        #expect(diff?.map { $0["key"] as? String } == ["network.rules.deny:*.evil.test"])
        #expect(home.admin(["rollback", "0"]).status == 0)
        #expect(try home.versions() == [3, 2, 1])
        #expect(home.admin(["export"]).stdout == exported, "rollback to 0 restores the built-in policy")
        let history = try home.json(["history"]) as? [[String: Any]]
        #expect(history?.first?["command"] as? String == "rollback 0")
        #expect(home.admin(["rollback", "9"]).status == 125)
    }

    @Test("corrupt or truncated policy files are refused with file:line, and nothing is applied")
    func badFiles() throws {
        let home = Home()
        #expect(home.admin(["set", "network.mode", "monitor"]).status == 0)
        let exported = home.admin(["export"]).stdout
        let cases: [(String, String)] = [
            ("truncated", String(exported.prefix(exported.count / 2))),
            ("binary", "\u{7F}ELF\u{1}\u{1}\u{0}\u{0}garbage"),
            ("unknown-key", exported.replacingOccurrences(of: "  mode: monitor", with: "  mode: monitor\n  turbo: true")),
            ("broad", exported.replacingOccurrences(of: "  rules: []", with: "  rules:\n    - {action: allow, domain: \"*\"}")),
        ]
        for (name, text) in cases {
            let file = home.workspace.scratch + "/\(name).yaml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let validate = home.admin(["validate", file])
            #expect(validate.status == 125, "\(name): \(validate.stderr)")
            #expect(validate.stderr.contains(file + ":"), "\(name): \(validate.stderr)")
            #expect(validate.stderr.split(separator: "\n").count == 1, "one line: \(validate.stderr)")
            #expect(home.admin(["apply", file]).status == 125)
        }
        #expect(try home.versions() == [1])
        #expect(home.admin(["export"]).stdout == exported)
    }

    @Test("explain prints the decision, the rule and the sentence")
    func explain() throws {
        let home = Home()
        #expect(home.admin(["users", "add", "bob", "--uid", "4343"]).status == 0)
        #expect(home.admin(["network", "preset", "apply", "common-dependencies"]).status == 0)
        #expect(home.admin(["network", "deny", "add", "evil.pypi.org"]).status == 0)
        let allowed = home.admin(["explain", "--user", "bob", "--action", "egress", "--host", "pypi.org", "--port", "443", "--method", "GET"])
        #expect(allowed.status == 0 && allowed.stdout.hasPrefix("ALLOW  rule common-dependencies:pypi.org:443"), "\(allowed.stdout)")
        let post = try home.json(["explain", "--user", "bob", "--action", "egress", "--host", "pypi.org", "--port", "443", "--method", "POST"])
        #expect((post as? [String: Any])?["allowed"] as? Bool == false)
        #expect(((post as? [String: Any])?["reason"] as? String)?.contains("not method POST") == true)
        let followUp = home.admin(["explain", "--user", "bob", "--action", "follow-up", "--owner", "carol", "--agent", "a7"])
        #expect(followUp.stdout.hasPrefix("ALLOW  rule security.teamFollowUps"))
        #expect(home.admin(["followups", "team", "off"]).status == 0)
        let off = home.admin(["explain", "--user", "bob", "--action", "follow-up", "--owner", "carol", "--agent", "a7"])
        #expect(off.stdout.hasPrefix("DENY  rule security.teamFollowUps"), "\(off.stdout)")
        #expect(home.admin(["explain", "--user", "nobody-known", "--action", "start-agent"]).status == 125)
    }

    @Test("bad input: one line, exit 125, nothing changed", arguments: [
        ["set", "network.mode", "wide"], ["set", "no.such.key", "1"], ["users", "add", "Bad Name", "--uid", "5"],
        ["allowlist", "users", "add", "ghost"], ["network", "allow", "add", "*.com"], ["network", "allow", "add", "10.0.0.1/8"],
        ["retention", "set", "3 days"], ["users", "role", "ghost", "admin"], ["defaults", "set", "colour", "blue"],
        ["privacy", "set", "off", "--enforce"], ["diff", "1", "x"],
    ])
    func badInput(_ arguments: [String]) throws {
        let home = Home()
        let result = home.admin(arguments)
        #expect(result.status == 125, "\(arguments): \(result.status) \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(try home.versions() == [])
    }
}
