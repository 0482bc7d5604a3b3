import Glibc
import WardenSystem

/// The parts of a repository in the workspace that would run code on the host later: hooks
/// and configuration (core.hooksPath, core.fsmonitor, filters). They are mounted read-only
/// inside the sandbox, and `.git` itself becomes a mount point so that it cannot be renamed
/// away and replaced by a directory the agent controls.
public struct GitGuard: Sendable {
    public struct ProtectedPath: Sendable, Equatable {
        /// Relative to the workspace root.
        public let path: String
        public let isDirectory: Bool
    }

    /// False when the workspace has no `.git` directory at start.
    public let hasRepository: Bool
    /// Paths bound read-only, deepest first (they must exist before `.git` is re-bound).
    public let readOnly: [ProtectedPath]
    /// Set when a protected path is a symlink or of the wrong type: it could redirect hooks or
    /// configuration somewhere the agent writes, so the run is refused.
    public var hazard: String? = nil

    /// Inspects `workspace` without following symlinks; creates `.git/hooks` when missing so
    /// that there is something to protect (owned like `.git`).
    public static func inspect(workspace: String) -> GitGuard {
        let gitPath = workspace + "/.git"
        guard let git = Files.lstat(gitPath), (git.st_mode & S_IFMT) == S_IFDIR else {
            return GitGuard(hasRepository: false, readOnly: [])
        }
        let hooks = gitPath + "/hooks"
        if Files.lstat(hooks) == nil, mkdir(hooks, 0o755) == 0 {
            chown(hooks, git.st_uid, git.st_gid)
        }
        var protected: [ProtectedPath] = []
        var hazard: String?
        collect(relative: ".git", absolute: gitPath, depth: 0, into: &protected, hazard: &hazard)
        return GitGuard(hasRepository: true, readOnly: protected, hazard: hazard)
    }

    /// hooks, config and config.worktree of a git directory, and of every submodule's git
    /// directory below `modules/` (bounded depth).
    private static func collect(relative: String, absolute: String, depth: Int, into result: inout [ProtectedPath],
                                hazard: inout String?) {
        guard depth < 4 else { return }
        let modules = absolute + "/modules"
        if let st = Files.lstat(modules), (st.st_mode & S_IFMT) == S_IFDIR {
            for name in Files.listDirectory(modules).prefix(256) {
                let child = modules + "/" + name
                if let st = Files.lstat(child), (st.st_mode & S_IFMT) == S_IFDIR {
                    collect(relative: relative + "/modules/" + name, absolute: child, depth: depth + 1, into: &result, hazard: &hazard)
                }
            }
        }
        for (name, directory) in [("hooks", true), ("config", false), ("config.worktree", false)] {
            guard let st = Files.lstat(absolute + "/" + name) else { continue }
            let kind = st.st_mode & S_IFMT
            if (directory && kind == S_IFDIR) || (!directory && kind == S_IFREG) {
                result.append(ProtectedPath(path: relative + "/" + name, isDirectory: directory))
            } else if hazard == nil {
                hazard = "workspace \(relative)/\(name) is \(kind == S_IFLNK ? "a symlink" : "not a \(directory ? "directory" : "regular file")"): "
                    + "it could redirect git hooks or configuration; remove it before running"
            }
        }
    }
}
