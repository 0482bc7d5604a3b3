import CWardenShim
import Glibc
import WardenSystem

/// After the run: every `.git` in the work tree that the sandbox made or changed is renamed to
/// `.git.warden-quarantine-RUN`, whatever its depth.
///
/// Why the whole tree: host git at the workspace root enters the repository behind any gitlink
/// — in the index now, in a submodule's index, or in a branch the developer checks out later —
/// and reads its configuration (`core.fsmonitor` runs on `git status`). Gitlinks can be staged
/// and unstaged at will, so the only stable fact is the `.git` itself. What counts as changed
/// is decided by ctime and creation time against the instant inspection ended: the kernel sets
/// both and nothing in the sandbox can forge them. A `.git` the developer had and the sandbox
/// did not touch keeps its name; renaming loses nothing.
struct GitWorkTreeScan {
    let root: FileDescriptor
    let startTime: Int64
    let runID: String
    let rootHadGit: Bool
    /// Gitlink git directories that were bound read-only and audited by `GitGuard.audit`.
    let knownGitlinks: [String: GitGuard.Identity?]
    var findings: [String] = []
    /// Directory entries read per scan at most.
    static let entryLimit = 2_000_000
    var budget = entryLimit
    var exhausted = false
    static let maxDepth = 256

    init(root: FileDescriptor, startTime: Int64, runID: String, rootHadGit: Bool, knownGitlinks: [String: GitGuard.Identity?]) {
        self.root = root
        self.startTime = startTime
        self.runID = runID
        self.rootHadGit = rootHadGit
        self.knownGitlinks = knownGitlinks
    }

    mutating func run() {
        if !rootHadGit, FileTimes(in: root, ".git") != nil {
            setAside(root, directory: "", because: "it was made in the sandbox, so its hooks and configuration are the sandbox's; review them before renaming it back")
        }
        var reader = DirectoryReader()
        walk(root, path: [], depth: 0, reader: &reader)
    }

    /// Depth first, holding one descriptor per level; each child is opened beneath its parent
    /// without following a symlink or crossing into another mount.
    private mutating func walk(_ directory: FileDescriptor, path: [UInt8], depth: Int, reader: inout DirectoryReader) {
        guard !exhausted else { return }
        var children: [[UInt8]] = []
        var unknown: [[UInt8]] = []
        var hasGit = false
        var remaining = budget
        let complete = reader.forEach(directory) { name, type in
            remaining -= 1
            if name.count == 4 && name.elementsEqual(".git".utf8) {
                hasGit = true
            } else if type == UInt8(DT_DIR) {
                children.append(Array(name))
            } else if type == UInt8(DT_UNKNOWN) {
                unknown.append(Array(name))
            }
        }
        budget = remaining
        if budget <= 0 {
            exhausted = true
            findings.append("the workspace has more than \(Self.entryLimit) entries: the rest were not checked for repositories made in the sandbox; do not use git there before checking")
            return
        }
        if !complete {
            findings.append("\(path.isEmpty ? "the workspace" : display(path)) could not be read to the end (\(String(cString: strerror(Glibc.errno)))): it was not fully checked for repositories made in the sandbox")
        }
        if hasGit && depth > 0 { check(directory, parent: path) }
        for name in unknown where FileTimes(in: directory, rawName: name.map { CChar(bitPattern: $0) } + [0])?.isDirectory == true {
            children.append(name)
        }
        for name in children {
            let child = path.isEmpty ? name : path + [UInt8(ascii: "/")] + name
            guard depth + 1 < Self.maxDepth else {
                findings.append("\(display(child)) is nested deeper than \(Self.maxDepth) levels and was not checked for repositories made in the sandbox")
                continue
            }
            let opened: FileDescriptor
            do {
                opened = try FileDescriptor.open(at: directory.raw, rawPath: name.map { CChar(bitPattern: $0) } + [0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
                                                 resolve: [.noLinks, .noCrossingMounts])
            } catch {
                // Another mount (EXDEV) is not the workspace's; anything else is reported.
                if error.errno != EXDEV && error.errno != ENOENT {
                    findings.append("\(display(child)) could not be opened (\(error.reason)): it was not checked for repositories made in the sandbox")
                }
                continue
            }
            walk(opened, path: child, depth: depth + 1, reader: &reader)
            if exhausted { return }
        }
    }

    /// One nested `.git` (in `parent`, a work-tree directory). Its own ctime counts: a rename
    /// into place changes it, and so does git used inside it — a repository the sandbox used is
    /// set aside too, which loses nothing.
    private mutating func check(_ directory: FileDescriptor, parent: [UInt8]) {
        guard let times = FileTimes(in: directory, ".git") else { return }
        let kind = times.mode & S_IFMT
        let identity = GitGuard.Identity(device: times.device, inode: times.inode)
        if case .some(.some(identity)) = knownGitlinks[String(decoding: parent, as: UTF8.self)] {
            // Bound read-only or pinned during the run and audited with `.git`; a `.git` file's
            // target may still be a git directory in the work tree.
            if kind == S_IFREG && targetChanged(directory) {
                setAside(directory, directory: parent, because: "the git directory it names in the workspace was changed in the sandbox")
            }
            return
        }
        if let created = times.createdNanoseconds, created >= startTime {
            setAside(directory, directory: parent, because: "the sandbox made it, and git at the workspace root enters it through any gitlink there")
            return
        }
        let reason = "the sandbox changed, moved or used it, and git at the workspace root enters it through any gitlink there"
        switch kind {
        case S_IFDIR:
            let git = try? directory.openAt(".git", GitGuard.openDirectory)
            if times.changed(since: startTime) || git.map({ surfaceChanged($0, depth: 0) }) ?? true {
                setAside(directory, directory: parent, because: reason)
            }
        case S_IFREG, S_IFLNK:
            if times.changed(since: startTime) || targetChanged(directory) {
                setAside(directory, directory: parent, because: reason)
            }
        default:
            setAside(directory, directory: parent, because: "it is a special file")
        }
    }

    /// Whether what makes a git directory run code or read configuration changed: its
    /// configuration, `commondir`, hooks, repository state, submodule git directories.
    private func surfaceChanged(_ git: FileDescriptor, depth: Int) -> Bool {
        for name in ["config", "config.worktree", "commondir"] where FileTimes(in: git, name)?.changed(since: startTime) == true {
            return true
        }
        for name in ["hooks"] + GitGuard.repositoryStates {
            guard let times = FileTimes(in: git, name) else { continue }
            if times.changed(since: startTime) { return true }
            if times.isDirectory, let inner = try? git.openAt(name, GitGuard.openDirectory),
               Files.rawEntries(inner).contains(where: { FileTimes(in: inner, rawName: $0)?.changed(since: startTime) ?? true }) {
                return true
            }
        }
        guard let modules = FileTimes(in: git, "modules") else { return false }
        guard modules.isDirectory, !modules.changed(since: startTime),
              let directory = try? git.openAt("modules", GitGuard.openDirectory) else { return true }
        return modulesChanged(directory, depth: depth + 1)
    }

    private func modulesChanged(_ directory: FileDescriptor, depth: Int) -> Bool {
        guard depth <= GitGuard.maxDepth else { return true }
        for name in Files.rawEntries(directory) {
            guard let times = FileTimes(in: directory, rawName: name), times.isDirectory, !times.changed(since: startTime) else { return true }
            let fd = openat(directory.raw, name, GitGuard.openDirectory)
            guard fd >= 0 else { return true }
            let sub = FileDescriptor(fd)
            if GitGuard.looksLikeGitDirectory(sub) ? surfaceChanged(sub, depth: depth) : modulesChanged(sub, depth: depth + 1) { return true }
        }
        return false
    }

    /// A `.git` file or symlink the sandbox did not touch may still name a git directory in the
    /// work tree that it changed (or moved into place). The target is opened as git opens it,
    /// following symlinks, then placed by identity. The repository's own `.git` is audited
    /// separately.
    private func targetChanged(_ directory: FileDescriptor) -> Bool {
        guard let (opened, location) = GitGuard.openGitFileTarget(directory, root: root), location == .inWorkTree else { return false }
        let changed = FileTimes(in: opened, ".").map { $0.changed(since: startTime) } ?? true
        return changed || surfaceChanged(opened, depth: 0)
    }

    /// Renames `directory`'s `.git` to `.git.warden-quarantine-RUN`.
    private mutating func setAside(_ directory: FileDescriptor, directory path: [UInt8], because reason: String) {
        let shown = path.isEmpty ? ".git" : display(path) + "/.git"
        let target = ".git.warden-quarantine-" + runID
        if wd_rename_noreplace(directory.raw, ".git", directory.raw, target) == 0 {
            findings.append("moved \(shown) to \(shown).warden-quarantine-\(runID): \(reason)")
        } else {
            findings.append("could not move \(shown) aside (\(String(cString: strerror(Glibc.errno)))): \(reason); do not use git in the workspace before removing it")
        }
    }

    private mutating func setAside(_ directory: FileDescriptor, directory path: String, because reason: String) {
        setAside(directory, directory: Array(path.utf8), because: reason)
    }

    private func display(_ path: [UInt8]) -> String {
        stripTerminalControls(String(decoding: path, as: UTF8.self))
    }
}
