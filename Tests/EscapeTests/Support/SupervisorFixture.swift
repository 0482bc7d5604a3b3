import Foundation

/// A `warden serve` of its own for one test suite: a temporary home with users alice (4242,
/// member), bob (4243, member), ada (4244, admin) and otto (4245, auditor), its socket and a
/// key file apart from the home. Stopped (SIGTERM, then SIGKILL after 5 s) by `stop`.
final class SupervisorFixture: @unchecked Sendable {
    // Safe: set in init, read afterwards; `server` is only stopped once, by its owner.
    let base = NSTemporaryDirectory() + "warden-serve-" + UUID().uuidString
    var home: String { base + "/home" }
    var socket: String { base + "/run/warden.sock" }
    var keyFile: String { base + "/keys/secrets.key" }
    private(set) var server = Process()
    /// `warden serve` options besides the home, socket and key file (`--audit-stream …`).
    let serveArguments: [String]
    /// Where the supervisor's standard error goes (its log), for tests that read it.
    var logPath: String { base + "/serve.log" }

    /// `admin`: `warden-admin` commands (their arguments, the home added) run before the
    /// supervisor starts.
    init(admin: [[String]] = [], serveArguments: [String] = []) throws {
        self.serveArguments = serveArguments
        try FileManager.default.createDirectory(atPath: base + "/run", withIntermediateDirectories: true)
        chmod(base, 0o755)
        for (name, uid, role) in [("alice", 4242, "member"), ("bob", 4243, "member"), ("ada", 4244, "admin"), ("otto", 4245, "auditor")] {
            _ = Warden.execute(Warden.adminBinary, ["users", "add", name, "--uid", "\(uid)", "--role", role, "--home", home])
        }
        for command in admin {
            let result = Warden.execute(Warden.adminBinary, command + ["--home", home])
            precondition(result.status == 0, "warden-admin \(command): \(result.stderr)")
        }
        try launch()
    }

    private func launch() throws {
        server = Process()
        server.executableURL = URL(fileURLWithPath: Warden.binary)
        server.arguments = ["serve", "--home", home, "--socket", socket, "--key-file", keyFile] + serveArguments
        server.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: logPath, contents: nil)
        server.standardError = FileHandle(forWritingAtPath: logPath).map { $0.seekToEndOfFile(); return $0 } ?? FileHandle.nullDevice
        try server.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(25_000) }
    }

    /// SIGKILL, as a crash would, then a new supervisor on the same home and socket.
    func killAndRestart() throws {
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: socket)
        try launch()
    }

    /// A new supervisor on the same home and socket, after `stop`.
    func startAgain() throws {
        try? FileManager.default.removeItem(atPath: socket)
        try launch()
    }

    func stop() {
        if server.isRunning { server.terminate() }
        for _ in 0..<200 where server.isRunning { usleep(25_000) }
        if server.isRunning { kill(server.processIdentifier, SIGKILL) }
        server.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: base)
    }

    /// `warden ARGS` as `uid` (0: root), with `stdin`, against this supervisor.
    func warden(_ arguments: [String], as uid: UInt32 = 0, stdin: String? = nil, timeout: Double = 60) -> Warden.Result {
        let (program, all) = command(arguments, as: uid)
        return Warden.execute(program, all, environment: environment, stdin: stdin, timeout: timeout)
    }

    /// The program and arguments that run `warden ARGS` as `uid`.
    func command(_ arguments: [String], as uid: UInt32) -> (String, [String]) {
        uid == 0 ? (Warden.binary, arguments)
            : ("/usr/bin/setpriv", ["--reuid", "\(uid)", "--regid", "\(uid)", "--clear-groups", Warden.binary] + arguments)
    }

    var environment: [String: String] { ["WARDEN_SOCKET": socket, "PATH": "/usr/bin:/bin", "TERM": "xterm"] }
}
