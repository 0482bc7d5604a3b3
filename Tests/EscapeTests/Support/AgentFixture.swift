import Foundation
import Testing

/// A supervisor (SupervisorFixture) with what agents need: OS accounts for the test users'
/// uids (the clone and the push run as the developer), an origin repository alice may push to,
/// and the network off unless a test turns it on.
final class AgentFixture: @unchecked Sendable {
    // Safe: set in init, read afterwards.
    let supervisor: SupervisorFixture
    var base: String { supervisor.base }
    var home: String { supervisor.home }
    var origin: String { base + "/origin.git" }

    /// `prepare` runs in the seed directory before its commit (to add built files).
    init(files: [String: String] = [:], links: [String: String] = [:], policy: [(String, String)] = [],
         prepare: ((String) throws -> Void)? = nil) throws {
        for uid in [4242, 4243, 4244, 4245] { Self.ensureAccount(uid) }
        supervisor = try SupervisorFixture()
        for (key, value) in [("network.mode", "none"), ("privacy.default", "off")] + policy {
            let set = Warden.execute(Warden.adminBinary, ["set", key, value, "--home", home])
            #expect(set.status == 0, "\(key): \(set.stderr)")
        }
        try makeOrigin(files: files, links: links, prepare: prepare)
    }

    /// A uid with an /etc/passwd entry (made once per machine, `wdt-UID`, no home, no login).
    static func ensureAccount(_ uid: Int) {
        guard Warden.execute("/usr/bin/getent", ["passwd", "\(uid)"]).status != 0 else { return }
        _ = Warden.execute("/usr/sbin/groupadd", ["-g", "\(uid)", "wdt-\(uid)"])
        let added = Warden.execute("/usr/sbin/useradd", ["-u", "\(uid)", "-g", "\(uid)", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "wdt-\(uid)"])
        #expect(added.status == 0, "useradd \(uid): \(added.stderr)")
    }

    /// A bare origin with one commit on main holding `files`, owned by alice.
    private func makeOrigin(files: [String: String], links: [String: String], prepare: ((String) throws -> Void)?) throws {
        let seed = base + "/seed"
        try FileManager.default.createDirectory(atPath: seed, withIntermediateDirectories: true)
        var all = files
        all["README.md"] = all["README.md"] ?? "sample\n"
        for (name, contents) in all {
            let path = seed + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path, contents: Data(contents.utf8))
            if name.hasSuffix(".sh") { chmod(path, 0o755) }
        }
        for (name, target) in links { try FileManager.default.createSymbolicLink(atPath: seed + "/" + name, withDestinationPath: target) }
        try prepare?(seed)
        let git = ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "-C", seed]
        for step in [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "seed"]] {
            let result = Warden.execute("/usr/bin/git", git + step)
            #expect(result.status == 0, "git \(step): \(result.stderr)")
        }
        #expect(Warden.execute("/usr/bin/git", ["clone", "-q", "--bare", seed, origin]).status == 0)
        _ = Warden.execute("/usr/bin/chown", ["-R", "4242:4242", origin])
    }

    /// `warden ARGS` as `uid` against this supervisor.
    func warden(_ arguments: [String], as uid: UInt32 = 4242, stdin: String? = nil, timeout: Double = 60) -> Warden.Result {
        supervisor.warden(arguments, as: uid, stdin: stdin, timeout: timeout)
    }

    /// Starts an agent as `uid`; its id, or nil (the failure is recorded as an issue).
    func start(_ command: [String], prompt: String = "do the task", name: String? = nil, as uid: UInt32 = 4242,
               sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        var arguments = ["agent", "start", "--repo", origin, "--prompt", prompt]
        if let name { arguments += ["--name", name] }
        let result = warden(arguments + ["--command"] + command, as: uid)
        #expect(result.status == 0, "start: \(result.stderr)", sourceLocation: sourceLocation)
        let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return result.status == 0 && id.count == 12 ? id : nil
    }

    /// The agent as `agent show --json` reports it (as root).
    func show(_ id: String) -> [String: Any] {
        let result = warden(["agent", "show", id, "--json"], as: 0)
        let object = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
        return object["agent"] as? [String: Any] ?? [:]
    }

    func history(_ id: String) -> [String] {
        let result = warden(["agent", "show", id, "--json"], as: 0)
        let object = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
        return (object["history"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
    }

    /// Waits (bounded) until the agent is in one of `states`; returns the state it has then.
    @discardableResult
    func wait(_ id: String, for states: Set<String> = ["finished", "failed", "stopped", "expired"], seconds: Double = 90) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var state = ""
        while Date() < deadline {
            state = show(id)["state"] as? String ?? ""
            if states.contains(state) { return state }
            usleep(100_000)
        }
        return state
    }

    /// A file on a branch of the origin, or nil.
    func originFile(_ branch: String, _ path: String) -> String? {
        let result = Warden.execute("/usr/bin/git", ["-c", "safe.directory=*", "-C", origin, "show", "\(branch):\(path)"])
        return result.status == 0 ? result.stdout : nil
    }

    deinit { supervisor.stop() }
}
