import CWardenShim
import Glibc
import WardenSystem

/// The parts of a repository in the workspace that would run code on the host when the developer
/// later uses git there (defence in depth for R16: Warden's own agents never run host git on an
/// agent-controlled tree).
///
/// Before the run (`inspect`): hooks, config and config.worktree of every git directory (the
/// repository's, each submodule's under `.git/modules`, and the git directory of each gitlink in
/// the index) are bound read-only, and so are the files those configurations include and the
/// hooks directory they name when these lie in the workspace; the git directories become mount
/// points, which can be neither renamed nor replaced; a `.git` file and repository state
/// (an interrupted rebase, linked-worktree metadata) are bound read-only. Whatever could
/// redirect git before the run even starts refuses it. After the run (`audit`, GitAudit.swift,
/// and `GitWorkTreeScan`) whatever the sandbox added that mounts cannot prevent is set aside.
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

        init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }
    }

    /// What the workspace root held at start.
    enum Root: Sendable {
        case none
        case file
        case directory
    }

    /// What the audit compares with. Everything recorded here was bound or pinned during the
    /// run, so its identity still names the same file afterwards.
    struct Snapshot: Sendable {
        /// The repository's git directory, each submodule's and each gitlink's.
        var gitDirectories: Set<Identity> = []
        /// `modules` directories inside those, and the directories that submodule names with a
        /// slash put between `modules` and a git directory.
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
    public var hasRepository: Bool { root != .none }
    /// In order: deepest first.
    public let protections: [Protection]
    /// Set when the repository could redirect git somewhere the agent writes before the run even
    /// starts: the run is refused.
    public let hazard: String?
    let root: Root
    let snapshot: Snapshot?
    /// The kernel's coarse clock when inspection ended: whatever in the workspace changes later
    /// carries a ctime at or after it (see `FileTimes`).
    let startTime: Int64

    /// Git directories protected per workspace; a repository with more is refused, not skipped.
    static let limit = 256
    /// Levels below `.git/modules`, counting the directories of submodule names with slashes.
    static let maxDepth = 8
    /// Repository state whose files git later acts on (`rebase --continue` runs `exec` lines).
    static let repositoryStates = ["rebase-merge", "rebase-apply", "sequencer", "worktrees"]
    static let openDirectory = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

    public static func inspect(workspace: String) -> GitGuard {
        guard let rootDirectory = try? FileDescriptor.open(workspace, openDirectory) else {
            return GitGuard(root: .none, protections: [], hazard: nil, snapshot: nil)
        }
        var st = Glibc.stat()
        guard fstatat(rootDirectory.raw, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            return GitGuard(root: .none, protections: [], hazard: nil, snapshot: nil)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            // A linked worktree or a submodule checkout: `.git` names the git directory. Bound
            // read-only, it cannot be rewritten to point elsewhere; it must point outside the
            // workspace, out of the sandbox's reach.
            var hazard: String?
            if let target = gitFileTarget(rootDirectory, root: rootDirectory, workspace: workspace) {
                hazard = "workspace .git points to a git directory inside the workspace (\(target.shown)), which the sandbox could rewrite; move it out before running"
            }
            return GitGuard(root: .file, protections: [.readOnly(path: ".git", isDirectory: false)], hazard: hazard, snapshot: nil)
        case S_IFDIR:
            var walk = Walk(root: rootDirectory, workspace: workspace)
            walk.repository()
            return GitGuard(root: .directory, protections: walk.protections, hazard: walk.hazard, snapshot: walk.snapshot)
        default:
            return GitGuard(root: .directory, protections: [], hazard: "workspace .git is \(describe(st.st_mode)): remove it before running", snapshot: nil)
        }
    }

    private init(root: Root, protections: [Protection], hazard: String?, snapshot: Snapshot?) {
        self.root = root
        self.protections = protections
        self.hazard = hazard
        self.snapshot = snapshot
        startTime = FileTimes.coarseNow()
    }

    /// Collects protections and the snapshot.
    private struct Walk {
        let root: FileDescriptor
        let workspace: String
        var protections: [Protection] = []
        var snapshot = Snapshot()
        var hazard: String?

        init(root: FileDescriptor, workspace: String) {
            self.root = root
            self.workspace = workspace
        }

        mutating func repository() {
            guard let git = try? root.openAt(".git", GitGuard.openDirectory) else {
                note("workspace .git cannot be opened")
                return
            }
            var st = Glibc.stat()
            snapshot.rootHadHead = fstatat(root.raw, "HEAD", &st, AT_SYMLINK_NOFOLLOW) == 0
            snapshot.head = GitGuard.smallFile(git, "HEAD")
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
                modulesEntries(modules, relative: relative + "/modules", depth: depth + 1)
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
                    if !isDirectory {
                        snapshot.configFiles.insert(Identity(st))
                        if let bytes = GitGuard.largeFile(directory, name) {
                            configuredPaths(bytes, file: relative + "/" + name, includeBase: relative, isRepository: relative == ".git", depth: 0)
                        }
                    }
                    protections.append(.readOnly(path: relative + "/" + name, isDirectory: isDirectory))
                } else {
                    note("\(relative)/\(name) is \(GitGuard.describe(st.st_mode)): it could redirect git hooks or configuration")
                }
            }
        }

        /// The entries of a `modules` directory (or of a directory a submodule name with a slash
        /// puts inside it): git directories, or more such directories.
        mutating func modulesEntries(_ directory: FileDescriptor, relative: String, depth: Int) {
            guard let st = try? directory.stat() else { return }
            snapshot.modulesDirectories.insert(Identity(st))
            if depth > GitGuard.maxDepth { note("\(relative) nests deeper than \(GitGuard.maxDepth) levels") }
            var entry = Glibc.stat()
            for raw in Files.rawEntries(directory) where hazard == nil {
                let name = Files.displayName(raw)
                let child = relative + "/" + name
                // A name that is not UTF-8 cannot be named in a mount plan: refused.
                guard Array(name.utf8CString) == raw else {
                    note("\(stripTerminalControls(child)) has a name that is not UTF-8")
                    continue
                }
                guard fstatat(directory.raw, name, &entry, AT_SYMLINK_NOFOLLOW) == 0, (entry.st_mode & S_IFMT) == S_IFDIR,
                      let sub = try? directory.openAt(name, GitGuard.openDirectory) else {
                    note("\(child) is \(GitGuard.describe(entry.st_mode)), not a git directory")
                    continue
                }
                if GitGuard.looksLikeGitDirectory(sub) {
                    gitDirectory(sub, relative: child, depth: depth)
                    protections.append(.pin(path: child))
                } else {
                    modulesEntries(sub, relative: child, depth: depth + 1)
                }
            }
            protections.append(.pin(path: relative))
        }

        /// Files a configuration makes git read (`include.path`) or run (`core.hooksPath`) that
        /// lie in the workspace: bound read-only; missing ones refuse the run, since the sandbox
        /// could create them.
        /// `includeBase`: the directory, relative to the workspace, that relative includes start
        /// from (the including file's). Included files in the workspace are read in turn.
        mutating func configuredPaths(_ bytes: [UInt8], file: String, includeBase: String, isRepository: Bool, depth: Int) {
            guard depth <= 10 else {
                note("\(file) nests includes more than 10 deep")
                return
            }
            let paths = GitConfigPaths(bytes)
            // The repository's object format decides the index's entry width (read once, here).
            if file == ".git/config" { snapshot.hashSize = paths.objectFormat == "sha256" ? 32 : 20 }
            if paths.unclear {
                note("\(file) mentions include or hooksPath in a form Warden cannot read")
                return
            }
            for include in paths.includes {
                guard let target = inWorkspace(include, base: includeBase, kind: "include.path", file: file),
                      let included = protect(target, isDirectory: false, setting: "include.path", file: file),
                      let bytes = try? included.readAll(limit: 1 << 20) else { continue }
                let base = target.split(separator: "/").dropLast().joined(separator: "/")
                configuredPaths(bytes, file: target, includeBase: base, isRepository: isRepository, depth: depth + 1)
            }
            for hooks in paths.hooksPaths {
                // Relative hook paths are taken from the top of the work tree, which for a
                // submodule is not known here.
                if !hooks.hasPrefix("/") && !hooks.hasPrefix("~") && !isRepository {
                    note("\(file) sets a relative core.hooksPath; use an absolute one")
                    continue
                }
                guard let target = inWorkspace(hooks, base: "", kind: "core.hooksPath", file: file) else { continue }
                protect(target, isDirectory: true, setting: "core.hooksPath", file: file)
            }
        }

        /// `value` as a path relative to the workspace, or nil when it lies outside it.
        mutating func inWorkspace(_ value: String, base: String, kind: String, file: String) -> String? {
            var path = value
            if path.hasPrefix("~/") || path == "~" {
                guard let owner = try? root.stat(), let home = Host.homeDirectory(of: owner.st_uid) else {
                    note("\(file) sets \(kind) under ~, and the workspace owner has no home directory")
                    return nil
                }
                path = home + path.dropFirst()
            }
            if !path.hasPrefix("/") { path = workspace + "/" + (base.isEmpty ? "" : base + "/") + path }
            return GitGuard.relative(path, to: workspace)
        }

        /// Binds `path` read-only; returns it opened for reading (a file) when newly protected.
        @discardableResult
        mutating func protect(_ path: String, isDirectory: Bool, setting: String, file: String) -> FileDescriptor? {
            if path.isEmpty || path == ".git" || path.hasPrefix(".git/") {
                // Inside the git directory: only what is already bound read-only is safe.
                if !protections.contains(.readOnly(path: path, isDirectory: isDirectory)) {
                    note("\(file) sets \(setting) to \(path.isEmpty ? "the workspace itself" : path), which the sandbox can write")
                }
                return nil
            }
            let opened: FileDescriptor
            do { opened = try FileDescriptor.open(at: root.raw, path, O_RDONLY | O_NONBLOCK, resolve: [.beneath, .noLinks]) } catch {
                let reason = error.errno == ENOENT ? "which does not exist: the sandbox could create it" : "which leads through a symlink"
                note("\(file) sets \(setting) to \(path), \(reason)")
                return nil
            }
            guard let st = try? opened.stat(), (st.st_mode & S_IFMT) == (isDirectory ? S_IFDIR : S_IFREG) else {
                note("\(file) sets \(setting) to \(path), which is not a \(isDirectory ? "directory" : "regular file")")
                return nil
            }
            if protections.contains(.readOnly(path: path, isDirectory: isDirectory)) { return nil }
            protections.append(.readOnly(path: path, isDirectory: isDirectory))
            return opened
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
                    // Submodule checkouts point into `.git/modules`, which is protected above;
                    // anywhere else in the workspace is the sandbox's to rewrite.
                    if let target = GitGuard.gitFileTarget(parent, relativeDirectory: path, root: root, workspace: workspace),
                       target.location == .inWorkTree {
                        note("\(path)/.git points to a git directory inside the workspace (\(target.shown)) outside .git/modules")
                    }
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
        let parent: FileDescriptor
        do { parent = try FileDescriptor.open(at: root.raw, path, O_RDONLY | O_DIRECTORY, resolve: [.beneath, .noLinks]) } catch {
            return error.errno == ENOENT || error.errno == ENOTDIR ? .absent : .unresolvable
        }
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
        var sharedIndex: GitIndex.Contents?
        if let shared = index.sharedIndex {
            guard let sharedData = largeFile(git, "sharedindex." + shared), let contents = GitIndex.read(sharedData, hashSize: hashSize) else {
                return .unreadable("names a shared index that cannot be read")
            }
            sharedIndex = contents
        }
        if index.hasUndecodableGitlink || sharedIndex?.hasUndecodableGitlink == true {
            return .unreadable("has a gitlink whose path is not UTF-8")
        }
        guard let sharedIndex else { return .paths(index.gitlinks) }
        // A gitlink replacing a shared entry carries no name: any shared path may be it.
        let candidates = index.hasUnnamedGitlink || sharedIndex.hasUnnamedGitlink ? sharedIndex.paths : sharedIndex.gitlinks
        return .paths(Array(Set(index.gitlinks + candidates)).sorted())
    }

    /// Where a `.git` file in `directory` (at `relativeDirectory` in the workspace, "" for the
    /// root) points, when that is inside the workspace: the line as written (for messages) and
    /// the place. A target that does not exist yet is placed by its spelling: the sandbox could
    /// create it there.
    static func gitFileTarget(_ directory: FileDescriptor, relativeDirectory: String = "", root: FileDescriptor,
                              workspace: String) -> (shown: String, location: Location)? {
        guard let text = gitdirLine(directory) else { return (".git (no readable gitdir line)", .inWorkTree) }
        let shown = stripTerminalControls(text)
        if let (_, location) = openGitFileTarget(directory, root: root) {
            return location == .outside ? nil : (shown, location)
        }
        let base = relativeDirectory.isEmpty ? workspace : workspace + "/" + relativeDirectory
        guard let path = relative(text.hasPrefix("/") ? text : base + "/" + text, to: workspace) else { return nil }
        return (shown, path == ".git" || path.hasPrefix(".git/") ? .inGitDirectory : .inWorkTree)
    }

    /// The `gitdir:` line of the `.git` file in `directory`, trimmed.
    static func gitdirLine(_ directory: FileDescriptor) -> String? {
        guard let bytes = smallFile(directory, ".git") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("gitdir:") else { return nil }
        return String(text.dropFirst("gitdir:".count)).trimmingWhitespace()
    }

    /// What the `.git` file or symlink in `directory` names, opened as git opens it — following
    /// symlinks — and placed by identity, not by spelling. Nil when it cannot be opened.
    static func openGitFileTarget(_ directory: FileDescriptor, root: FileDescriptor) -> (FileDescriptor, Location)? {
        var st = Glibc.stat()
        guard fstatat(directory.raw, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        let target = (st.st_mode & S_IFMT) == S_IFLNK ? ".git" : gitdirLine(directory)
        guard let target, let rootStat = try? root.stat() else { return nil }
        let fd = openat(directory.raw, target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let opened = FileDescriptor(fd)
        var git = Glibc.stat()
        let gitIdentity = fstatat(root.raw, ".git", &git, AT_SYMLINK_NOFOLLOW) == 0 && (git.st_mode & S_IFMT) == S_IFDIR ? Identity(git) : nil
        return (opened, location(of: opened, root: Identity(rootStat), git: gitIdentity))
    }

    enum Location: Equatable {
        case outside
        case inGitDirectory
        case inWorkTree
    }

    /// Where an opened directory lies relative to the workspace, found by walking `..` up to
    /// `/` and comparing identities: whatever symlinks led to it, only where it is counts.
    static func location(of directory: FileDescriptor, root: Identity, git: Identity?) -> Location {
        var current = directory
        for _ in 0..<4096 {
            guard let st = try? current.stat() else { return .inWorkTree }
            let identity = Identity(st)
            if identity == git { return .inGitDirectory }
            if identity == root { return .inWorkTree }
            let fd = openat(current.raw, "..", openPathOnly | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return .inWorkTree }
            let parent = FileDescriptor(fd)
            guard let up = try? parent.stat() else { return .inWorkTree }
            if Identity(up) == identity { return .outside }
            current = parent
        }
        return .inWorkTree
    }

    /// `path` (absolute) relative to `base` (absolute, canonical) after resolving `.` and `..`
    /// lexically; nil when it lies outside `base`. "" is `base` itself.
    static func relative(_ path: String, to base: String) -> String? {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                _ = parts.popLast()
            } else {
                parts.append(part)
            }
        }
        let baseParts = base.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= baseParts.count, parts.prefix(baseParts.count).elementsEqual(baseParts) else { return nil }
        return parts.dropFirst(baseParts.count).joined(separator: "/")
    }

    /// A directory under `modules` that is a git directory, not one more level of a submodule
    /// name with slashes.
    static func looksLikeGitDirectory(_ directory: FileDescriptor) -> Bool {
        let names: [String] = ["HEAD", "config", "objects", "refs", "hooks", "commondir"]
        return names.contains { name in
            var st = Glibc.stat()
            return fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0
        }
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

    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "a symlink"
        case S_IFDIR: return "a directory"
        case S_IFREG: return "a regular file"
        default: return "a special file"
        }
    }
}
