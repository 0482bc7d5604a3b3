import Glibc
import WardenSystem

/// A `SandboxRequest` after validation: canonical paths, the seccomp profile read and parsed,
/// the environment built. Creating it touches nothing, so invalid input changes nothing.
public struct RunConfiguration: Sendable {
    public var request: SandboxRequest
    public let workspace: String
    public let workspaceOwner: (uid: UInt32, gid: UInt32)
    public let systemRoot: String
    public let readOnlyBinds: [BindRequest]
    public let readWriteBinds: [BindRequest]
    /// The profile's bytes; parsed (and rejected when malformed) before the sandbox is built.
    public let profileBytes: [UInt8]
    public let profileName: String
    public let profileSource: String
    public let profileSHA256: String
    public let environment: [(String, String)]
    public let paths: WardenPaths
    public let rootless: Bool

    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Validates `request`. `lookup` reads the caller's environment (injected for tests).
    public static func validate(_ request: SandboxRequest, paths: WardenPaths, defaultProfile: () throws(SandboxError) -> (bytes: [UInt8], source: String),
                                lookup: (String) -> String? = Host.environment) throws(SandboxError) -> RunConfiguration {
        guard let command = request.command.first, !command.isEmpty else {
            throw .invalid("no command given (usage: warden run [options] -- CMD [ARGS...])")
        }
        if request.command.contains(where: { $0.utf8.contains(0) }) { throw .invalid("the command contains a NUL byte") }

        // Workspace (R4).
        let requested = request.workspace ?? currentDirectory()
        guard let requested, !requested.isEmpty else { throw .invalid("cannot determine the current directory; pass --workspace DIR") }
        let workspace: String
        do { workspace = try Files.canonicalPath(requested) } catch {
            throw .invalid("workspace \(requested): \(error.reason)")
        }
        guard let st = Files.stat(workspace), (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .invalid("workspace \(workspace) is not a directory")
        }
        let home = (Host.homeDirectory(of: getuid()) ?? lookup("HOME")).flatMap { try? Files.canonicalPath($0) }
        let guardian = WorkspaceGuard(home: home, wardenHome: (try? Files.canonicalPath(paths.home)) ?? paths.home)
        if !request.allowBroadWorkspace, let refusal = guardian.refusal(for: workspace) {
            throw .invalid("\(refusal); pass --allow-broad-workspace if this is intended")
        }

        // Root of the system directories.
        var systemRoot = "/"
        if let rootfs = request.rootfs {
            do { systemRoot = try Files.canonicalPath(rootfs) } catch { throw .invalid("--rootfs \(rootfs): \(error.reason)") }
            guard Files.isDirectory(systemRoot), Files.lstat(systemRoot + "/usr") != nil else {
                throw .invalid("--rootfs \(systemRoot) has no usr directory")
            }
        }

        let readOnly = try validateBinds(request.readOnlyBinds, option: "--ro", guardian: nil)
        let readWrite = try validateBinds(request.readWriteBinds, option: "--rw",
                                          guardian: request.allowBroadWorkspace ? nil : guardian)

        // seccomp profile: read and parse now, so a malformed one stops the run before it starts.
        let bytes: [UInt8], source: String, name: String
        if let path = request.seccompProfile {
            do { bytes = try Files.read(path, limit: 4 << 20) } catch { throw .invalid("--seccomp \(path): \(error.reason)") }
            source = path
            name = String(path.split(separator: "/").last ?? Substring(path))
        } else {
            (bytes, source) = try defaultProfile()
            name = "default"
        }
        if bytes.isEmpty { throw .invalid("seccomp profile \(source): the file is empty") }

        let environment = try buildEnvironment(request, lookup: lookup)
        return RunConfiguration(request: request, workspace: workspace, workspaceOwner: (st.st_uid, st.st_gid),
                                systemRoot: systemRoot, readOnlyBinds: readOnly, readWriteBinds: readWrite,
                                profileBytes: bytes, profileName: name, profileSource: source,
                                profileSHA256: SHA256.hex(bytes), environment: environment, paths: paths,
                                rootless: getuid() != 0)
    }

    static func currentDirectory() -> String? {
        guard let cwd = getcwd(nil, 0) else { return nil }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    /// Inside paths a bind must not cover: the sandbox's own structure.
    static let reservedTargets = ["/proc", "/dev", MountPlanBuilder.workspaceTarget, "/etc"]

    /// Validates bind sources and targets. A source whose path contains a symlink is refused: a
    /// symlink inside an agent-writable tree (planted by an earlier run) would otherwise redirect
    /// the bind anywhere. Writable sources also get the broad-workspace checks (R4) and may not
    /// be credential directories.
    static func validateBinds(_ binds: [BindRequest], option: String, guardian: WorkspaceGuard?) throws(SandboxError) -> [BindRequest] {
        var result: [BindRequest] = []
        for bind in binds {
            let lexical = normalize(bind.source.hasPrefix("/") ? bind.source : (currentDirectory() ?? "/") + "/" + bind.source)
            let source: String
            do { source = try Files.canonicalPath(lexical) } catch { throw .invalid("\(option) \(bind.source): \(error.reason)") }
            guard source == lexical else {
                throw .invalid("\(option) \(bind.source): the path goes through a symlink (to \(source)); give the real path")
            }
            if let guardian {
                if let refusal = guardian.refusal(for: source, subject: "the bind source") {
                    throw .invalid("\(option): \(refusal); pass --allow-broad-workspace if this is intended")
                }
                if let home = guardian.home {
                    for secret in credentialDirectories.map({ home + "/" + $0 }) where source == secret || source.hasPrefix(secret + "/") || secret.hasPrefix(source + "/") {
                        throw .invalid("\(option) \(bind.source): \(secret) holds credentials; pass --allow-broad-workspace if this is intended")
                    }
                }
            }
            let target = normalize(bind.target == bind.source ? source : bind.target)
            guard bind.target.hasPrefix("/") || bind.target == bind.source, target != "/" else {
                throw .invalid("\(option) \(bind.target): the target must be an absolute path other than /")
            }
            if bind.target.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
                throw .invalid("\(option) \(bind.target): the target must not contain . or ..")
            }
            for reserved in reservedTargets where target == reserved || target.hasPrefix(reserved + "/") {
                throw .invalid("\(option) \(bind.target): \(reserved) is managed by Warden")
            }
            for entry in MountPlanBuilder.systemEntries where target == "/" + entry || target.hasPrefix("/" + entry + "/") {
                throw .invalid("\(option) \(bind.target): /\(entry) is a read-only system directory")
            }
            result.append(BindRequest(source: source, target: target))
        }
        return result
    }

    /// Directories under a home that hold credentials; never bound writable without the flag.
    static let credentialDirectories = [".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".config/gcloud", ".config/gh",
                                        ".password-store", ".netrc", ".git-credentials", ".npmrc", ".pypirc"]

    /// "/a/./b/../c" -> "/a/c" (lexically; symlinks are refused separately).
    static func normalize(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/") {
            if component == "." { continue }
            if component == ".." { _ = components.popLast(); continue }
            components.append(component)
        }
        return "/" + components.joined(separator: "/")
    }

    static func buildEnvironment(_ request: SandboxRequest, lookup: (String) -> String?) throws(SandboxError) -> [(String, String)] {
        var values: [String: String] = [
            "PATH": defaultPath, "HOME": GeneratedEtc.agentHome, "USER": "agent", "LOGNAME": "agent",
            "SHELL": "/bin/bash", "LANG": "C.UTF-8", "HOSTNAME": GeneratedEtc.hostname,
            "PWD": MountPlanBuilder.workspaceTarget, "TMPDIR": "/tmp",
        ]
        var order = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "HOSTNAME", "PWD", "TMPDIR"]
        func set(_ name: String, _ value: String) throws(SandboxError) {
            guard isValidName(name) else { throw .invalid("environment variable name \"\(name)\" is not valid") }
            guard !value.utf8.contains(0) else { throw .invalid("environment variable \(name) contains a NUL byte") }
            if values[name] == nil { order.append(name) }
            values[name] = value
        }
        if request.terminal == .auto, let term = lookup("TERM"), TerminalInfo.isTerminal(0) || TerminalInfo.isTerminal(1) {
            try set("TERM", term)
        }
        for name in request.passEnvironment {
            guard isValidName(name) else { throw .invalid("--env-pass \(name): not a valid variable name") }
            if let value = lookup(name) { try set(name, value) }
        }
        for entry in request.environment { try set(entry.name, entry.value) }
        return order.compactMap { name in values[name].map { (name, $0) } }
    }

    static func isValidName(_ name: String) -> Bool { isEnvironmentVariableName(name) }
}
