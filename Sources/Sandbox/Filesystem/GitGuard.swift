import CWardenShim
import Glibc
import WardenSystem

/// The parts of a repository in the workspace that would run code on the host when the developer
/// later uses git there.
///
/// Before the run (`inspect`): hooks, config and config.worktree of every git directory (the
/// repository's, each submodule's under `.git/modules`, and the git directory of each gitlink in
/// the index) are bound read-only; those git directories become mount points, which can be
/// neither renamed nor replaced; a `.git` file, linked-worktree metadata and an interrupted
/// rebase or cherry-pick are bound read-only. A `commondir`, or a symlink where one of these
/// belongs, refuses the run. After the run (`audit`, GitAudit.swift) whatever the sandbox added
/// that mounts cannot prevent — new git directories, a `commondir`, new repository state, new
/// gitlinks with their repositories, a broken `HEAD` — is removed or restored.
///
/// Everything works by descriptor without following symlinks: the workspace is agent-controlled
/// (R14).
public struct GitGuard: Sendable {
    public enum Protection: Sendable, Equatable {
        /// Bind read-only (a directory, or a file when `isDirectory` is false).
        case readOnly(path: String, isDirectory: Bool)
        /// Make the directory a mount point (recursive, keeping the read-only binds inside).
        case pin(path: String)
    }

    /// The identity of a file: what a rename keeps and a replacement changes.
    struct Identity: Hashable, Sendable {
        let device: UInt64
        let inode: UInt64

        init(_ st: Glibc.stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
        }
    }

    /// What the audit compares with. Everything recorded here was bound or pinned during the
    /// run, so its identity still names the same file afterwards.
    struct Snapshot: Sendable {
        /// The repository's git directory, each submodule's and each gitlink's.
        var gitDirectories: Set<Identity> = []
        /// `modules` directories inside those.
        var modulesDirectories: Set<Identity> = []
        /// `config` and `config.worktree` files, bound read-only.
        var configFiles: Set<Identity> = []
        /// Repository state directories (`rebase-merge`, ...), bound read-only.
        var states: Set<Identity> = []
        /// `.git/HEAD` at start: restored if the run leaves it unusable.
        var head: [UInt8]?
        var rootHadHead = false
        /// Gitlink path -> identity of its `.git` (nil: none at start).
        var gitlinks: [String: Identity?] = [:]
        var hashSize = 20
    }

    /// The gitlinks an index names, as far as the host's git would see them.
    enum IndexReading {
        case absent
        case paths([String])
        /// Not something Warden can vouch for (a symlink, too large, malformed).
        case unreadable(String)
    }

    /// False when the workspace has neither a `.git` directory nor a `.git` file at start.
    public let hasRepository: Bool
    /// In order: deepest first.
    public let protections: [Protection]
    /// Set when the repository could redirect git somewhere the agent writes before the run even
    /// starts: the run is refused.
    public let hazard: String?
    let snapshot: Snapshot?

    /// Git directories protected per workspace; a repository with more is refused, not skipped.
    static let limit = 256
    static let maxDepth = 4
    /// Repository state whose files git later acts on (`rebase --continue` runs `exec` lines).
    static let repositoryStates = ["rebase-merge", "rebase-apply", "sequencer", "worktrees"]
    static let openDirectory = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

    public static func inspect(workspace: String) -> GitGuard {
        guard let root = try? FileDescriptor.open(workspace, openDirectory) else { return GitGuard(nil) }
        var st = Glibc.stat()
        guard fstatat(root.raw, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return GitGuard(nil) }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            // A worktree or a submodule checkout: `.git` names the real git directory, outside
            // the workspace. Bound read-only, it cannot be rewritten to point elsewhere.
            return GitGuard(hasRepository: true, protections: [.readOnly(path: ".git", isDirectory: false)], hazard: nil, snapshot: nil)
        case S_IFDIR:
            var walk = Walk(root: root)
            walk.repository()
            return GitGuard(hasRepository: true, protections: walk.protections, hazard: walk.hazard, snapshot: walk.snapshot)
        default:
            return GitGuard(hasRepository: true, protections: [], hazard: "workspace .git is \(describe(st.st_mode)): remove it before running", snapshot: nil)
        }
    }

    private init(_ nothing: Void?) {
        self.init(hasRepository: false, protections: [], hazard: nil, snapshot: nil)
    }

    private init(hasRepository: Bool, protections: [Protection], hazard: String?, snapshot: Snapshot?) {
        self.hasRepository = hasRepository
        self.protections = protections
        self.hazard = hazard
        self.snapshot = snapshot
    }

    /// Collects protections and the snapshot.
    private struct Walk {
        let root: FileDescriptor
        var protections: [Protection] = []
        var snapshot = Snapshot()
        var hazard: String?

        init(root: FileDescriptor) {
            self.root = root
        }

        mutating func repository() {
            guard let git = try? root.openAt(".git", GitGuard.openDirectory) else {
                note("workspace .git cannot be opened")
                return
            }
            var st = Glibc.stat()
            snapshot.rootHadHead = fstatat(root.raw, "HEAD", &st, AT_SYMLINK_NOFOLLOW) == 0
            snapshot.head = GitGuard.smallFile(git, "HEAD")
            snapshot.hashSize = GitGuard.hashSize(git)
            gitDirectory(git, relative: ".git", depth: 0)
            protections.append(.pin(path: ".git"))
            gitlinks(git)
        }

        /// One git directory and, below `modules/`, each submodule's.
        mutating func gitDirectory(_ directory: FileDescriptor, relative: String, depth: Int) {
            var st = Glibc.stat()
            guard (try? directory.stat()).map({ snapshot.gitDirectories.insert(Identity($0)) }) != nil else { return }
            if snapshot.gitDirectories.count > GitGuard.limit { note("the repository has more than \(GitGuard.limit) git directories to protect") }
            if fstatat(directory.raw, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                note("\(relative)/commondir exists: it would make git read hooks and configuration from elsewhere")
            }
            for state in GitGuard.repositoryStates where fstatat(directory.raw, state, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    snapshot.states.insert(Identity(st))
                    protections.append(.readOnly(path: relative + "/" + state, isDirectory: true))
                } else {
                    note("\(relative)/\(state) is \(GitGuard.describe(st.st_mode))")
                }
            }
            if fstatat(directory.raw, "modules", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR, let modules = try? directory.openAt("modules", GitGuard.openDirectory) else {
                    note("\(relative)/modules is \(GitGuard.describe(st.st_mode))")
                    return
                }
                if depth >= GitGuard.maxDepth { note("\(relative)/modules nests deeper than \(GitGuard.maxDepth) levels") }
                snapshot.modulesDirectories.insert(Identity(st))
                for raw in Files.rawEntries(modules) where hazard == nil {
                    let name = Files.displayName(raw)
                    let child = relative + "/modules/" + name
                    // A name that is not UTF-8 cannot be named in a mount plan: refused.
                    guard Array(name.utf8CString) == raw else {
                        note("\(stripTerminalControls(child)) has a name that is not UTF-8")
                        continue
                    }
                    guard fstatat(modules.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR,
                          let sub = try? modules.openAt(name, GitGuard.openDirectory) else {
                        note("\(child) is \(GitGuard.describe(st.st_mode)), not a git directory")
                        continue
                    }
                    gitDirectory(sub, relative: child, depth: depth + 1)
                    protections.append(.pin(path: child))
                }
                protections.append(.pin(path: relative + "/modules"))
            }
            // hooks: created when missing, by descriptor, and owned like the git directory.
            if fstatat(directory.raw, "hooks", &st, AT_SYMLINK_NOFOLLOW) != 0 && Glibc.errno == ENOENT,
               mkdirat(directory.raw, "hooks", 0o755) == 0, let hooks = try? directory.openAt("hooks", GitGuard.openDirectory),
               let owner = try? directory.stat() {
                fchown(hooks.raw, owner.st_uid, owner.st_gid)
            }
            for (name, isDirectory) in [("hooks", true), ("config", false), ("config.worktree", false)] {
                guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let kind = st.st_mode & S_IFMT
                if (isDirectory && kind == S_IFDIR) || (!isDirectory && kind == S_IFREG) {
                    if !isDirectory { snapshot.configFiles.insert(Identity(st)) }
                    protections.append(.readOnly(path: relative + "/" + name, isDirectory: isDirectory))
                } else {
                    note("\(relative)/\(name) is \(GitGuard.describe(st.st_mode)): it could redirect git hooks or configuration")
                }
            }
        }

        /// The git directory (or `.git` file) of every gitlink in the index: host `git status`
        /// enters those repositories and reads their configuration.
        mutating func gitlinks(_ git: FileDescriptor) {
            let links: [String]
            switch GitGuard.readIndex(git, hashSize: snapshot.hashSize) {
            case .absent: return
            case .paths(let paths): links = paths
            case .unreadable(let reason):
                note(".git/index " + reason)
                return
            }
            for path in links where hazard == nil {
                let parent: FileDescriptor, identity: Identity, st: Glibc.stat
                switch GitGuard.dotGit(root, of: path) {
                case .absent:
                    snapshot.gitlinks[path] = .some(nil)
                    continue
                case .unresolvable:
                    note("gitlink \(path) passes through a symlink")
                    continue
                case .present(let p, let i, let s):
                    (parent, identity, st) = (p, i, s)
                }
                snapshot.gitlinks[path] = identity
                switch st.st_mode & S_IFMT {
                case S_IFREG:
                    protections.append(.readOnly(path: path + "/.git", isDirectory: false))
                case S_IFDIR:
                    if let directory = try? parent.openAt(".git", GitGuard.openDirectory) {
                        gitDirectory(directory, relative: path + "/.git", depth: 1)
                        protections.append(.pin(path: path + "/.git"))
                    }
                default:
                    note("\(path)/.git is \(GitGuard.describe(st.st_mode))")
                }
            }
        }

        mutating func note(_ text: String) {
            if hazard == nil { hazard = "workspace " + text + "; remove it before running" }
        }
    }

    // MARK: - Helpers shared with the audit

    enum DotGit {
        /// No `path/.git` (or `path` is not a directory): nothing for git to enter.
        case absent
        /// `path` leads through a symlink or out of the workspace: git might follow it.
        case unresolvable
        case present(parent: FileDescriptor, identity: Identity, stat: Glibc.stat)
    }

    /// `path/.git` beneath `root`, resolved without symlinks.
    static func dotGit(_ root: FileDescriptor, of path: String) -> DotGit {
        let resolve: UInt64 = 0x08 /* BENEATH */ | 0x04 /* NO_SYMLINKS */ | 0x02 /* NO_MAGICLINKS */
        let fd = wd_openat2(root.raw, path, UInt64(O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, resolve)
        guard fd >= 0 else {
            let error = Glibc.errno
            return error == ENOENT || error == ENOTDIR ? .absent : .unresolvable
        }
        let parent = FileDescriptor(fd)
        var st = Glibc.stat()
        guard fstatat(parent.raw, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return .absent }
        return .present(parent: parent, identity: Identity(st), stat: st)
    }

    /// Gitlink paths of `.git/index`, following a split index to its shared part.
    static func readIndex(_ git: FileDescriptor, hashSize: Int) -> IndexReading {
        var st = Glibc.stat()
        guard fstatat(git.raw, "index", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return .absent }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .unreadable("is \(describe(st.st_mode))") }
        guard let data = largeFile(git, "index") else { return .unreadable("is larger than 256 MiB") }
        guard let index = GitIndex.read(data, hashSize: hashSize) else { return .unreadable("is malformed") }
        guard let shared = index.sharedIndex else { return .paths(index.gitlinks) }
        guard let sharedData = largeFile(git, "sharedindex." + shared),
              let sharedIndex = GitIndex.read(sharedData, hashSize: hashSize) else {
            return .unreadable("names a shared index that cannot be read")
        }
        // A gitlink replacing a shared entry carries no name: any shared path may be it.
        let candidates = index.hasUnnamedGitlink || sharedIndex.hasUnnamedGitlink ? sharedIndex.paths : sharedIndex.gitlinks
        return .paths(Array(Set(index.gitlinks + candidates)).sorted())
    }

    static func smallFile(_ directory: FileDescriptor, _ name: String) -> [UInt8]? {
        guard let file = try? directory.openAt(name, O_RDONLY | O_NOFOLLOW), let st = try? file.stat(),
              (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= 4096 else { return nil }
        return try? file.readAll(limit: 4096)
    }

    static func largeFile(_ directory: FileDescriptor, _ name: String) -> [UInt8]? {
        guard let file = try? directory.openAt(name, O_RDONLY | O_NOFOLLOW), let st = try? file.stat(),
              (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= 256 << 20 else { return nil }
        return try? file.readAll(limit: 256 << 20)
    }

    /// 32 for repositories using SHA-256 object names, 20 otherwise.
    static func hashSize(_ git: FileDescriptor) -> Int {
        guard let config = largeFile(git, "config") else { return 20 }
        let text = String(decoding: config, as: UTF8.self).lowercased()
        return text.contains("objectformat") && text.contains("sha256") ? 32 : 20
    }

    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "a symlink"
        case S_IFDIR: return "a directory"
        case S_IFREG: return "a regular file"
        default: return "a special file"
        }
    }
}
