import Glibc
import WardenSystem

/// The parts of a repository in the workspace that would run code on the host when the developer
/// later runs git there: hooks and configuration (core.hooksPath, core.fsmonitor, filters), and
/// the files that redirect git to another git directory (`commondir`, a `.git` file).
///
/// Inside the sandbox they are read-only, and every git directory (`.git`, `.git/modules`, each
/// submodule's) is made a mount point, which can be neither renamed nor replaced. What mounts
/// cannot prevent — creating a new `commondir` or a new submodule git directory — is checked
/// after the run and quarantined (`audit`). Everything here works by descriptor without following
/// symlinks: the workspace is agent-controlled (R14).
public struct GitGuard: Sendable {
    public enum Protection: Sendable, Equatable {
        /// Bind read-only (a directory, or a file when `isDirectory` is false).
        case readOnly(path: String, isDirectory: Bool)
        /// Make the directory a mount point (recursive, keeping the read-only binds inside).
        case pin(path: String)
    }

    /// False when the workspace has neither a `.git` directory nor a `.git` file at start.
    public let hasRepository: Bool
    /// In order: deepest first.
    public let protections: [Protection]
    /// Set when the repository could redirect git somewhere the agent writes before the run even
    /// starts (a symlink where a directory or file belongs, a `commondir`): the run is refused.
    public var hazard: String?
    /// Submodule git directories present at start (relative paths), to tell new ones after.
    let moduleDirectories: Set<String>

    static let maxModules = 256
    static let maxDepth = 4
    static let openDirectory = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

    /// Inspects `workspace`; creates a missing `hooks` directory in each git directory so that
    /// there is something to protect (owned like that git directory).
    public static func inspect(workspace: String) -> GitGuard {
        guard let root = try? FileDescriptor.open(workspace, openDirectory) else {
            return GitGuard(hasRepository: false, protections: [], hazard: nil, moduleDirectories: [])
        }
        var st = Glibc.stat()
        guard fstatat(root.raw, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            return GitGuard(hasRepository: false, protections: [], hazard: nil, moduleDirectories: [])
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            // A worktree or a submodule checkout: `.git` names the real git directory. Pinned
            // read-only, it cannot be rewritten to point somewhere the agent controls.
            return GitGuard(hasRepository: true, protections: [.readOnly(path: ".git", isDirectory: false)], hazard: nil, moduleDirectories: [])
        case S_IFDIR:
            var walk = Walk()
            if let git = try? root.openAt(".git", openDirectory) {
                walk.gitDirectory(git, relative: ".git", depth: 0)
            } else {
                walk.hazard = "workspace .git cannot be opened"
            }
            walk.protections.append(.pin(path: ".git"))
            return GitGuard(hasRepository: true, protections: walk.protections, hazard: walk.hazard, moduleDirectories: walk.modules)
        default:
            return GitGuard(hasRepository: true, protections: [], moduleDirectories: [],
                            hazardText: "workspace .git is \(describe(st.st_mode)): it could redirect git; remove it before running")
        }
    }

    private init(hasRepository: Bool, protections: [Protection], hazard: String?, moduleDirectories: Set<String>) {
        self.hasRepository = hasRepository
        self.protections = protections
        self.hazard = hazard
        self.moduleDirectories = moduleDirectories
    }

    private init(hasRepository: Bool, protections: [Protection], moduleDirectories: Set<String>, hazardText: String) {
        self.init(hasRepository: hasRepository, protections: protections, hazard: hazardText, moduleDirectories: moduleDirectories)
    }

    /// Collects protections of one git directory and, below `modules/`, of each submodule's.
    private struct Walk {
        var protections: [Protection] = []
        var modules: Set<String> = []
        var hazard: String?

        mutating func gitDirectory(_ directory: FileDescriptor, relative: String, depth: Int) {
            var st = Glibc.stat()
            if fstatat(directory.raw, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                note("\(relative)/commondir exists: it would make git read hooks and configuration from elsewhere")
            }
            if depth < GitGuard.maxDepth, let modulesDirectory = try? directory.openAt("modules", GitGuard.openDirectory) {
                for name in GitGuard.entries(modulesDirectory).prefix(GitGuard.maxModules) {
                    guard fstatat(modulesDirectory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                    let child = relative + "/modules/" + name
                    guard (st.st_mode & S_IFMT) == S_IFDIR, let sub = try? modulesDirectory.openAt(name, GitGuard.openDirectory) else {
                        note("\(child) is \(GitGuard.describe(st.st_mode)), not a git directory")
                        continue
                    }
                    modules.insert(child)
                    gitDirectory(sub, relative: child, depth: depth + 1)
                    protections.append(.pin(path: child))
                }
                protections.append(.pin(path: relative + "/modules"))
            }
            // hooks: created when missing, by descriptor, and owned like the git directory.
            if fstatat(directory.raw, "hooks", &st, AT_SYMLINK_NOFOLLOW) != 0 && Glibc.errno == ENOENT {
                if mkdirat(directory.raw, "hooks", 0o755) == 0, let hooks = try? directory.openAt("hooks", GitGuard.openDirectory),
                   let owner = try? directory.stat() {
                    fchown(hooks.raw, owner.st_uid, owner.st_gid)
                }
            }
            for (name, isDirectory) in [("hooks", true), ("config", false), ("config.worktree", false)] {
                guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let kind = st.st_mode & S_IFMT
                if (isDirectory && kind == S_IFDIR) || (!isDirectory && kind == S_IFREG) {
                    protections.append(.readOnly(path: relative + "/" + name, isDirectory: isDirectory))
                } else {
                    note("\(relative)/\(name) is \(GitGuard.describe(st.st_mode)): it could redirect git hooks or configuration")
                }
            }
        }

        mutating func note(_ text: String) {
            if hazard == nil { hazard = "workspace " + text + "; remove it before running" }
        }
    }

    /// After the run: what the sandbox left that would make the developer's git run its code, with
    /// the offending entries renamed out of git's way (a `.warden-quarantine-RUN` suffix).
    public func audit(workspace: String, runID: String) -> [String] {
        guard let root = try? FileDescriptor.open(workspace, Self.openDirectory),
              let git = try? root.openAt(".git", Self.openDirectory) else { return [] }
        var findings: [String] = []
        quarantineCommondir(git, relative: ".git", runID: runID, findings: &findings)
        guard let modulesDirectory = try? git.openAt("modules", Self.openDirectory) else { return findings }
        for name in Self.entries(modulesDirectory).prefix(Self.maxModules) {
            let relative = ".git/modules/" + name
            if moduleDirectories.contains(relative) {
                if let sub = try? modulesDirectory.openAt(name, Self.openDirectory) {
                    quarantineCommondir(sub, relative: relative, runID: runID, findings: &findings)
                }
            } else if !name.contains(".warden-quarantine-") {
                let target = name + ".warden-quarantine-" + runID
                if renameat(modulesDirectory.raw, name, modulesDirectory.raw, target) == 0 {
                    findings.append("\(relative) (a new submodule git directory) was moved to .git/modules/\(target)")
                }
            }
        }
        return findings
    }

    private func quarantineCommondir(_ directory: FileDescriptor, relative: String, runID: String, findings: inout [String]) {
        var st = Glibc.stat()
        guard fstatat(directory.raw, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let target = "commondir.warden-quarantine-" + runID
        if renameat(directory.raw, "commondir", directory.raw, target) == 0 {
            findings.append("\(relative)/commondir was moved to \(relative)/\(target)")
        }
    }

    static func entries(_ directory: FileDescriptor) -> [String] { Files.listDirectory(directory) }

    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "a symlink"
        case S_IFDIR: return "a directory"
        case S_IFREG: return "a regular file"
        default: return "a special file"
        }
    }
}
