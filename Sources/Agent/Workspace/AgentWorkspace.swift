import Glibc
import WardenSystem

/// A workspace refused or failed: one line saying why.
public struct WorkspaceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// An agent's working tree, prepared by the supervisor outside any sandbox: the repository
/// cloned as the developer (their uid, their own git configuration and credentials, which
/// therefore never enter the sandbox), the base branch checked out, and the agent's branch
/// created from it.
public struct AgentWorkspace: Sendable {
    /// The clone: `<agent directory>/workspace`, owned by the developer.
    public let path: String
    /// The commit the agent's branch starts from, read right after the clone (before anything
    /// of the agent ran): what its change summary is measured against.
    public let baseCommit: String?

    public init(path: String, baseCommit: String? = nil) {
        self.path = path
        self.baseCommit = baseCommit
    }

    /// Clones `repository` (a local path or a git URL) as `uid`:`gid` (whose home is `home`)
    /// into `directory`/workspace and creates `branch` from `baseBranch`. `directory` is made
    /// here, mode 0700, owned by the developer; it must not exist yet.
    public static func prepare(repository: String, baseBranch: String, branch: String, directory: String,
                               uid: UInt32, gid: UInt32, home: String) throws(WorkspaceError) -> AgentWorkspace {
        guard !repository.isEmpty, !repository.hasPrefix("-"), !repository.utf8.contains(where: { $0 < 0x20 }) else {
            throw WorkspaceError(message: "repository \"\(repository.prefix(80))\" is not a path or URL git can clone")
        }
        guard Self.isValidBranch(baseBranch), Self.isValidBranch(branch) else {
            throw WorkspaceError(message: "branch \"\(baseBranch)\" or \"\(branch)\" is not a valid git branch name")
        }
        guard mkdir(directory, 0o700) == 0 else {
            throw WorkspaceError(message: "cannot make the agent directory \(directory): \(errnoDescription(errno))")
        }
        guard chown(directory, uid, gid) == 0 else {
            throw WorkspaceError(message: "cannot give the agent directory \(directory) to uid \(uid): \(errnoDescription(errno))")
        }
        let workspace = directory + "/workspace"
        // ext:: and fd:: transports run commands; a local path goes through file://.
        try git(["-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never", "clone", "--quiet", "--no-recurse-submodules",
                 "--branch", baseBranch, "--", repository, workspace], uid: uid, gid: gid, home: home, what: "clone \(repository)")
        try git(["-C", workspace, "switch", "--quiet", "--create", branch], uid: uid, gid: gid, home: home, what: "create branch \(branch)")
        return AgentWorkspace(path: workspace, baseCommit: Self.readRef(workspace: workspace, branch: branch))
    }

    /// A branch's commit from the fresh clone's loose ref file (beneath the clone, no links).
    static func readRef(workspace: String, branch: String) -> String? {
        guard let directory = try? FileDescriptor.open(workspace, O_RDONLY | O_DIRECTORY, resolve: .noLinks),
              let file = try? FileDescriptor.open(at: directory.raw, ".git/refs/heads/" + branch, O_RDONLY | O_NONBLOCK,
                                                  resolve: [.beneath, .noSymlinks, .noMagicLinks]),
              let bytes = try? file.readAll(limit: 256) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        return text.utf8.count == 40 && text.utf8.allSatisfy({ isxdigit(Int32($0)) != 0 }) ? text : nil
    }

    /// A clone that takes longer than this is given up (a stalled or endless remote).
    public static let gitTimeoutSeconds = 900.0

    /// Runs git as the developer: their uid and gid, no supplementary groups, their home (so
    /// their own configuration and credential helpers apply), never a prompt, and stalled
    /// transfers cut off. `isolated`: no system or global configuration either, for steps that
    /// need no credentials.
    static func git(_ arguments: [String], uid: UInt32, gid: UInt32, home: String, what: String, isolated: Bool = false) throws(WorkspaceError) {
        let result = try runGit(arguments, uid: uid, gid: gid, home: home, what: what, isolated: isolated, timeoutSeconds: Self.gitTimeoutSeconds)
        guard result.status == 0 else { throw WorkspaceError(message: "git could not \(what): \(lastLine(result))") }
    }

    /// git as the developer (see `git`); its exit status and standard error, for callers that
    /// tell statuses apart.
    static func runGit(_ arguments: [String], uid: UInt32, gid: UInt32, home: String, what: String, isolated: Bool,
                       timeoutSeconds: Double) throws(WorkspaceError) -> (status: Int32, stderr: String) {
        var environment = ["HOME=\(home)", "GIT_TERMINAL_PROMPT=0", "GIT_HTTP_LOW_SPEED_LIMIT=1000", "GIT_HTTP_LOW_SPEED_TIME=60", "LANG=C.UTF-8"]
        if isolated { environment += ["GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"] }
        do {
            return try ChildProcess.run("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", "/usr/bin/git"] + arguments,
                                        environment: environment, timeoutSeconds: timeoutSeconds)
        } catch {
            throw WorkspaceError(message: "cannot run git to \(what): \(error.description)")
        }
    }

    /// The last line git wrote to standard error, without terminal controls.
    static func lastLine(_ result: (status: Int32, stderr: String)) -> String {
        stripTerminalControls(result.stderr).split(separator: "\n").last.map(String.init) ?? "exit status \(result.status)"
    }

    /// What `git check-ref-format --branch` accepts, kept to a conservative subset.
    public static func isValidBranch(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 200, !name.hasPrefix("-"), !name.hasPrefix("/"), !name.hasSuffix("/"), !name.hasSuffix("."),
              !name.hasSuffix(".lock"), !name.contains(".."), !name.contains("//"), !name.contains("@{"), name != "@" else { return false }
        return name.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && !"~^:?*[\\".utf8.contains(byte)
        } && !name.split(separator: "/").contains { $0.hasPrefix(".") }
    }
}

extension AgentWorkspace {
    /// Whether `repository` names a remote (`scheme://…` or scp-like `host:path`) rather than
    /// a local path.
    public static func isRemote(_ repository: String) -> Bool {
        if repository.contains("://") { return true }
        guard let colon = repository.firstIndex(of: ":"), !repository.hasPrefix("/") else { return false }
        return !repository[..<colon].contains("/")
    }

    /// For a local repository, checks now (as the developer, briefly) that it exists, is a
    /// repository they may read, and has `baseBranch`: bad input is refused at start rather
    /// than found later. A remote is checked when it is cloned.
    public static func checkLocalOrigin(_ repository: String, baseBranch: String, uid: UInt32, gid: UInt32, home: String) throws(WorkspaceError) {
        guard repository.hasPrefix("/") else { throw WorkspaceError(message: "repository \(repository.prefix(200)): expected an absolute path or a URL") }
        guard Files.isDirectory(repository) else { throw WorkspaceError(message: "repository \(repository.prefix(200)): no such directory") }
        let result = try runGit(["ls-remote", "--exit-code", "--heads", "--", repository, "refs/heads/\(baseBranch)"], uid: uid, gid: gid,
                                home: home, what: "check \(repository)", isolated: false, timeoutSeconds: 20)
        switch result.status {
        case 0: return
        case 2: throw WorkspaceError(message: "repository \(repository.prefix(200)) has no branch \(baseBranch)")
        default:
            throw WorkspaceError(message: "repository \(repository.prefix(200)) cannot be read as a git repository: \(lastLine(result))")
        }
    }
}
