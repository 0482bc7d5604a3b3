import Foundation
import Testing

/// Runs the real `warden` binary (the one `make test` built: WARDEN_BIN), as the CI does.
enum Warden {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["WARDEN_BIN"], !path.isEmpty { return path }
        for candidate in [".build/release/warden", ".build/debug/warden"] {
            let path = repository + "/" + candidate
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return repository + "/.build/debug/warden"
    }

    static var adminBinary: String {
        if let path = ProcessInfo.processInfo.environment["WARDEN_ADMIN_BIN"], !path.isEmpty { return path }
        return URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("warden-admin").path
    }

    static var isRoot: Bool { getuid() == 0 }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var manifest: [String: Any]?

        var lastLine: String { stdout.split(separator: "\n").last.map(String.init) ?? "" }
        var denials: [String: Int] { manifest?["seccompDenials"] as? [String: Int] ?? [:] }
    }

    /// Runs `warden run [options] -- command...` in `workspace`, bounded by `timeout` seconds.
    static func run(_ options: [String] = [], _ command: [String], in workspace: Workspace,
                    environment: [String: String]? = nil, stdin: String? = nil, timeout: Double = 60) -> Result {
        let manifest = workspace.scratch + "/manifest-\(UUID().uuidString).json"
        let arguments = ["run", "--manifest", manifest] + options + ["--"] + command
        var result = execute(binary, arguments, directory: workspace.path, environment: environment, stdin: stdin, timeout: timeout)
        if let data = FileManager.default.contents(atPath: manifest) {
            result.manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        }
        return result
    }

    /// Runs a program with pipes for its standard streams, killing it after `timeout` seconds.
    @discardableResult
    static func execute(_ program: String, _ arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
                        stdin: String? = nil, timeout: Double = 60) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        let outData = Collector(out.fileHandleForReading), errData = Collector(err.fileHandleForReading)
        do { try process.run() } catch {
            return Result(status: -1, stdout: "", stderr: "cannot start \(program): \(error)")
        }
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Result(status: status, stdout: outData.text(), stderr: errData.text())
    }
}

/// Reads a pipe to the end on a background thread (so a chatty child never blocks on a full pipe).
final class Collector: @unchecked Sendable {
    // Safe: `data` is written by the reader thread before `done` is signalled, and read after.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func text() -> String {
        _ = done.wait(timeout: .now() + 10)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A temporary workspace directory (and a scratch directory outside it), removed afterwards.
final class Workspace: Sendable {
    let root: String
    let path: String
    let scratch: String

    init(git: Bool = false) {
        root = NSTemporaryDirectory() + "warden-tests/" + UUID().uuidString
        path = root + "/workspace"
        scratch = root + "/scratch"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let attacks = Warden.repository + "/Tests/EscapeTests/Fixtures/attacks.py"
        try? FileManager.default.copyItem(atPath: attacks, toPath: path + "/attacks.py")
        if git {
            _ = Warden.execute("/usr/bin/git", ["-c", "init.defaultBranch=main", "init", "-q", path])
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ contents: String) {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(contents.utf8))
    }

    func read(_ name: String) -> String? {
        FileManager.default.contents(atPath: file(name)).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// C programs of Tests/EscapeTests/Fixtures, compiled once per test process.
enum Fixtures {
    static let directory: String = {
        let directory = NSTemporaryDirectory() + "warden-test-fixtures-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["int80", "euid"] {
            let source = Warden.repository + "/Tests/EscapeTests/Fixtures/\(name).c"
            _ = Warden.execute("/usr/bin/gcc", ["-static", "-O1", "-o", directory + "/" + name, source])
        }
        return directory
    }()

    static func path(_ name: String) -> String { directory + "/" + name }
}

/// Runs one attack of attacks.py in a fresh sandbox and returns its report line.
func attack(_ name: String, options: [String] = [], _ extra: [String] = []) -> (line: String, result: Warden.Result) {
    let workspace = Workspace()
    let result = Warden.run(options, ["python3", "/workspace/attacks.py", name] + extra, in: workspace)
    return (result.lastLine, result)
}
