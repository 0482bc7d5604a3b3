import CWardenShim
import Glibc
import WardenSystem

/// After the run: undoes what the sandbox did to the workspace repository that read-only binds
/// cannot stop and that would run its code, or read its configuration, when the developer next
/// uses git in the workspace (R16).
///
/// The sandbox is gone when this runs (its cgroup was killed), so nothing races the checks.
/// Each finding is one sentence saying what was removed or restored, and why.
extension GitGuard {
    /// Entries removed per audit at most: a hostile tree can be large.
    static let removalBudget = 200_000

    /// `runID` names what is set aside rather than removed.
    public func audit(workspace: String, runID: String) -> [String] {
        guard let root = try? FileDescriptor.open(workspace, Self.openDirectory) else { return [] }
        guard let snapshot else {
            var st = Glibc.stat()
            if !hasRepository, fstatat(root.raw, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                return ["the workspace has a new .git made in the sandbox: its hooks and configuration are the sandbox's; review them before using git there"]
            }
            return []
        }
        var audit = Audit(root: root, snapshot: snapshot, runID: runID)
        audit.run()
        return audit.findings
    }

    private struct Audit {
        let root: FileDescriptor
        let snapshot: Snapshot
        let runID: String
        var findings: [String] = []
        var budget = GitGuard.removalBudget

        init(root: FileDescriptor, snapshot: Snapshot, runID: String) {
            self.root = root
            self.snapshot = snapshot
            self.runID = runID
        }

        mutating func run() {
            guard let git = try? root.openAt(".git", GitGuard.openDirectory) else {
                findings.append("the workspace .git is no longer a directory; do not use git there before checking it")
                return
            }
            keepValid(git)
            visit(git, relative: ".git", depth: 0)
            gitlinks(git)
        }

        /// `.git` must stay a valid git directory: otherwise git treats the workspace itself as
        /// a bare repository when it has `HEAD`, `objects` and `refs` — files the agent wrote.
        mutating func keepValid(_ git: FileDescriptor) {
            if let head = GitGuard.smallFile(git, "HEAD"), Self.isValidHead(head, hashSize: snapshot.hashSize) {
                // Still usable: checkouts legitimately move it.
            } else if let original = snapshot.head {
                if remove(in: git, "HEAD", relative: ".git/HEAD"), restore(in: git, "HEAD", original) {
                    findings.append("restored .git/HEAD, which the sandbox left unusable")
                }
            }
            for name in ["objects", "refs"] {
                var st = Glibc.stat()
                if fstatat(git.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { continue }
                if remove(in: git, name, relative: ".git/" + name), mkdirat(git.raw, name, 0o755) == 0 {
                    if let owner = try? git.stat(), let made = try? git.openAt(name, GitGuard.openDirectory) {
                        fchown(made.raw, owner.st_uid, owner.st_gid)
                    }
                    findings.append("recreated .git/\(name), which the sandbox removed (the repository's objects may be lost)")
                }
            }
            var st = Glibc.stat()
            if !snapshot.rootHadHead && fstatat(root.raw, "HEAD", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if remove(in: root, "HEAD", relative: "HEAD") {
                    findings.append("removed HEAD at the workspace root: with objects and refs beside it, git could take the workspace for a bare repository")
                }
            }
        }

        /// One git directory that existed at start: drop redirections and state it gained.
        mutating func visit(_ directory: FileDescriptor, relative: String, depth: Int) {
            var st = Glibc.stat()
            if fstatat(directory.raw, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0,
               remove(in: directory, "commondir", relative: relative + "/commondir") {
                findings.append("removed \(relative)/commondir: it would make git read hooks and configuration from elsewhere")
            }
            for name in ["config", "config.worktree"] where fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if !snapshot.configFiles.contains(Identity(st)), remove(in: directory, name, relative: relative + "/" + name) {
                    findings.append("removed \(relative)/\(name), written in the sandbox: git would read it as configuration")
                }
            }
            for name in GitGuard.repositoryStates where fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if !snapshot.states.contains(Identity(st)), remove(in: directory, name, relative: relative + "/" + name) {
                    findings.append("removed \(relative)/\(name), made in the sandbox: git would act on it (a rebase runs its exec lines)")
                }
            }
            guard fstatat(directory.raw, "modules", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            let modulesRelative = relative + "/modules"
            guard (st.st_mode & S_IFMT) == S_IFDIR, snapshot.modulesDirectories.contains(Identity(st)), depth < GitGuard.maxDepth,
                  let modules = try? directory.openAt("modules", GitGuard.openDirectory) else {
                if remove(in: directory, "modules", relative: modulesRelative) {
                    findings.append("removed \(modulesRelative), made in the sandbox: git would use the repositories in it")
                }
                return
            }
            for name in Files.rawEntries(modules) {
                let child = modulesRelative + "/" + stripTerminalControls(Files.displayName(name))
                if fstatat(modules.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR,
                   snapshot.gitDirectories.contains(Identity(st)) {
                    let fd = openat(modules.raw, name, GitGuard.openDirectory)
                    if fd >= 0 { visit(FileDescriptor(fd), relative: child, depth: depth + 1) }
                } else if remove(in: modules, rawName: name, relative: child) {
                    findings.append("removed \(child), made in the sandbox: git would use it as a submodule's repository")
                }
            }
        }

        /// Gitlinks staged in the sandbox: `git status` enters each and reads its repository.
        /// The git directories of gitlinks present at start get the same audit as `.git`.
        mutating func gitlinks(_ git: FileDescriptor) {
            for (path, known) in snapshot.gitlinks.sorted(by: { $0.key < $1.key }) {
                guard let known, case .present(let parent, let identity, let st) = GitGuard.dotGit(root, of: path),
                      identity == known, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                let fd = openat(parent.raw, ".git", GitGuard.openDirectory)
                if fd >= 0 { visit(FileDescriptor(fd), relative: stripTerminalControls(path) + "/.git", depth: 1) }
            }
            let paths: [String]
            switch GitGuard.readIndex(git, hashSize: snapshot.hashSize) {
            case .absent: return
            case .paths(let found): paths = found
            case .unreadable(let reason):
                if remove(in: git, "index", relative: ".git/index") {
                    findings.append("removed .git/index, which \(reason) after the run: Warden cannot check the gitlinks in it (the staging area is lost; files are untouched)")
                }
                return
            }
            for path in paths {
                let shown = stripTerminalControls(path)
                switch GitGuard.dotGit(root, of: path) {
                case .absent:
                    continue
                case .unresolvable:
                    if remove(in: git, "index", relative: ".git/index") {
                        findings.append("removed .git/index: its gitlink \(shown) passes through a symlink, which git could follow into a repository the sandbox made (the staging area is lost; files are untouched)")
                    }
                    return
                case .present(let parent, let identity, let st):
                    if case .some(.some(let known)) = snapshot.gitlinks[path], known == identity { continue }
                    if (st.st_mode & S_IFMT) == S_IFDIR && snapshot.gitDirectories.contains(identity) { continue }
                    setAside(parent, path: shown)
                }
            }
        }

        /// A repository behind a gitlink staged in the sandbox. It may be one the developer had
        /// (untracked) before the run, with history worth keeping, so it is renamed, not
        /// removed: under another name neither `git status` nor git run inside it finds it.
        mutating func setAside(_ parent: FileDescriptor, path: String) {
            let target = ".git.warden-quarantine-" + runID
            if wd_rename_noreplace(parent.raw, ".git", parent.raw, target) == 0 {
                findings.append("moved \(path)/.git to \(path)/\(target): the sandbox staged a gitlink there, and git status would enter that repository")
            } else if remove(in: parent, ".git", relative: path + "/.git") {
                findings.append("removed \(path)/.git: the sandbox staged a gitlink there, and git status would enter that repository")
            }
        }

        mutating func remove(in directory: FileDescriptor, _ name: String, relative: String) -> Bool {
            remove(in: directory, rawName: Array(name.utf8CString), relative: stripTerminalControls(relative))
        }

        mutating func remove(in directory: FileDescriptor, rawName: [CChar], relative: String) -> Bool {
            if Files.removeTree(in: directory, rawName: rawName, budget: &budget) { return true }
            findings.append("could not remove \(relative) (\(budget > 0 ? String(cString: strerror(Glibc.errno)) : "too many entries")): do not use git in the workspace before removing it")
            return false
        }

        /// Writes `bytes` as a new file `name`, owned like `directory` (the workspace owner's).
        mutating func restore(in directory: FileDescriptor, _ name: String, _ bytes: [UInt8]) -> Bool {
            let fd = openat(directory.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                findings.append("could not restore .git/\(name): \(String(cString: strerror(Glibc.errno)))")
                return false
            }
            let file = FileDescriptor(fd)
            if let owner = try? directory.stat() { fchown(file.raw, owner.st_uid, owner.st_gid) }
            do {
                try file.writeAll(bytes)
                return true
            } catch {
                findings.append("could not restore .git/\(name): \(error.reason)")
                return false
            }
        }

        /// What git accepts as `HEAD`: a symbolic ref into refs/, or an object name.
        static func isValidHead(_ bytes: [UInt8], hashSize: Int) -> Bool {
            var text = bytes
            while let last = text.last, last == 10 || last == 13 { text.removeLast() }
            if text.starts(with: Array("ref: refs/".utf8)) {
                return !text.contains(0) && !text.contains(10)
            }
            return text.count == hashSize * 2 && text.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        }
    }
}
