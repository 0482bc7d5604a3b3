import CWardenShim
import Glibc
import WardenSystem

/// After the run: undoes what the sandbox did to the workspace repository that read-only binds
/// cannot stop and that would run its code, or read its configuration, when the developer next
/// uses git in the workspace.
///
/// The sandbox is gone when this runs (its cgroup was killed), so nothing races the checks.
/// Nothing is deleted: what is undone is moved aside (inside `.git`, to
/// `.git/warden-quarantine-RUN/`, which git never reads), so a rename does it whatever its size
/// and the developer can inspect it. Each finding is one sentence saying what moved, and why.
extension GitGuard {
    /// `runID` names what is set aside.
    public func audit(workspace: String, runID: String) -> [String] {
        guard let rootDirectory = try? FileDescriptor.open(workspace, Self.openDirectory) else { return [] }
        var findings: [String] = []
        if let snapshot {
            var audit = Audit(root: rootDirectory, snapshot: snapshot, runID: runID)
            audit.run()
            findings = audit.findings
        }
        var scan = GitWorkTreeScan(root: rootDirectory, startTime: startTime, runID: runID, rootHadGit: root != .none,
                                   knownGitlinks: snapshot?.gitlinks ?? [:])
        scan.run()
        return findings + scan.findings
    }

    private struct Audit {
        let root: FileDescriptor
        let snapshot: Snapshot
        let runID: String
        var findings: [String] = []
        var quarantine: FileDescriptor?
        var setAsideCount = 0

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
            visit(git, relative: ".git", depth: 0)
            // The git directories of gitlinks present at start get the same audit as `.git`.
            for (path, known) in snapshot.gitlinks.sorted(by: { $0.key < $1.key }) {
                guard let known, case .present(let parent, let identity, let st) = GitGuard.dotGit(root, of: path),
                      identity == known, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                let fd = openat(parent.raw, ".git", GitGuard.openDirectory)
                if fd >= 0 { visit(FileDescriptor(fd), relative: stripTerminalControls(path) + "/.git", depth: 1) }
            }
            keepValid(git)
        }

        /// One git directory that existed at start: what it gained that redirects git or that
        /// git acts on.
        mutating func visit(_ directory: FileDescriptor, relative: String, depth: Int) {
            var st = Glibc.stat()
            if fstatat(directory.raw, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                setAside(directory, "commondir", relative: relative + "/commondir", because: "it would make git read hooks and configuration from elsewhere")
            }
            for name in ["config", "config.worktree"] where fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if !snapshot.configFiles.contains(Identity(st)) {
                    setAside(directory, name, relative: relative + "/" + name, because: "written in the sandbox, git would read it as configuration")
                }
            }
            for name in GitGuard.repositoryStates where fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if !snapshot.states.contains(Identity(st)) {
                    setAside(directory, name, relative: relative + "/" + name, because: "made in the sandbox, git would act on it (a rebase runs its exec lines)")
                }
            }
            guard fstatat(directory.raw, "modules", &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            modules(directory, "modules", relative: relative + "/modules", depth: depth + 1)
        }

        /// A `modules` directory, or a level of a submodule name with slashes inside one: known
        /// git directories are visited, anything else is set aside whatever its name or type.
        mutating func modules(_ parent: FileDescriptor, _ name: String, relative: String, depth: Int) {
            var st = Glibc.stat()
            guard fstatat(parent.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR,
                  snapshot.modulesDirectories.contains(Identity(st)), depth <= GitGuard.maxDepth,
                  let directory = try? parent.openAt(name, GitGuard.openDirectory) else {
                setAside(parent, name, relative: relative, because: "made in the sandbox, git would use the repositories in it")
                return
            }
            for raw in Files.rawEntries(directory) {
                let child = relative + "/" + stripTerminalControls(Files.displayName(raw))
                var entry = Glibc.stat()
                guard fstatat(directory.raw, raw, &entry, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let identity = Identity(entry)
                if (entry.st_mode & S_IFMT) == S_IFDIR && snapshot.gitDirectories.contains(identity) {
                    let fd = openat(directory.raw, raw, GitGuard.openDirectory)
                    if fd >= 0 { visit(FileDescriptor(fd), relative: child, depth: depth) }
                } else if (entry.st_mode & S_IFMT) == S_IFDIR && snapshot.modulesDirectories.contains(identity) {
                    modules(directory, Files.displayName(raw), relative: child, depth: depth + 1)
                } else {
                    setAside(directory, rawName: raw, relative: child, because: "made in the sandbox, git would use it as a submodule's repository")
                }
            }
        }

        /// `.git` must stay a valid git directory to the developer's git — `HEAD` readable and
        /// well formed, `objects` and `refs` searchable directories — or git takes the
        /// workspace itself for a bare repository, whose `config` the sandbox could write.
        mutating func keepValid(_ git: FileDescriptor) {
            restoreAccess(root, ".git", need: 0o700, relative: ".git")
            if let head = GitGuard.smallFile(git, "HEAD"), Self.isValidHead(head, hashSize: snapshot.hashSize) {
                restoreAccess(git, "HEAD", need: 0o600, relative: ".git/HEAD")
            } else if let original = snapshot.head {
                var st = Glibc.stat()
                if fstatat(git.raw, "HEAD", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                    setAside(git, "HEAD", relative: ".git/HEAD", because: "the sandbox left it unusable")
                }
                if restore(in: git, "HEAD", original) { findings.append("restored .git/HEAD from before the run") }
            }
            for name in ["objects", "refs"] {
                var st = Glibc.stat()
                if fstatat(git.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                    restoreAccess(git, name, need: 0o700, relative: ".git/" + name)
                    continue
                }
                if fstatat(git.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                    setAside(git, name, relative: ".git/" + name, because: "it is no longer a directory")
                }
                if mkdirat(git.raw, name, 0o755) == 0 {
                    if let owner = try? git.stat(), let made = try? git.openAt(name, GitGuard.openDirectory) {
                        fchown(made.raw, owner.st_uid, owner.st_gid)
                    }
                    findings.append("recreated .git/\(name), which the sandbox removed (the repository's objects or branches may be lost)")
                }
            }
            var st = Glibc.stat()
            if !snapshot.rootHadHead && fstatat(root.raw, "HEAD", &st, AT_SYMLINK_NOFOLLOW) == 0 {
                setAside(root, "HEAD", relative: "HEAD", because: "with objects and refs beside it, git could take the workspace for a bare repository")
            }
        }

        /// Gives the owner back the access git needs, which the sandbox may have taken away.
        mutating func restoreAccess(_ directory: FileDescriptor, _ name: String, need: mode_t, relative: String) {
            var st = Glibc.stat()
            guard fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) != S_IFLNK,
                  st.st_mode & need != need else { return }
            if fchmodat(directory.raw, name, (st.st_mode & 0o7777) | need, 0) == 0 {
                findings.append("gave \(relative) its owner's access back, which the sandbox had removed: without it git would look elsewhere for a repository")
            }
        }

        mutating func setAside(_ directory: FileDescriptor, _ name: String, relative: String, because reason: String) {
            setAside(directory, rawName: Array(name.utf8CString), relative: relative, because: reason)
        }

        /// Moves the entry into `.git/warden-quarantine-RUN/` under a numbered name.
        mutating func setAside(_ directory: FileDescriptor, rawName: [CChar], relative: String, because reason: String) {
            guard let quarantine = quarantineDirectory() else { return }
            setAsideCount += 1
            let flattened = relative.split(separator: "/").joined(separator: "~")
            let target = "\(setAsideCount)-" + String(flattened.prefix(200))
            if wd_rename_noreplace(directory.raw, rawName, quarantine.raw, target) == 0 {
                findings.append("moved \(relative) to .git/warden-quarantine-\(runID)/\(target): \(reason)")
            } else {
                findings.append("could not move \(relative) aside (\(String(cString: strerror(Glibc.errno)))): \(reason); do not use git in the workspace before removing it")
            }
        }

        /// `.git/warden-quarantine-RUN`, made on first use, owned like `.git`. The run id is
        /// random and unknown inside the sandbox, so nothing there can have taken the name.
        mutating func quarantineDirectory() -> FileDescriptor? {
            if let quarantine { return quarantine }
            let name = "warden-quarantine-" + runID
            guard let git = try? root.openAt(".git", GitGuard.openDirectory), let owner = try? git.stat(),
                  mkdirat(git.raw, name, 0o700) == 0, let made = try? git.openAt(name, GitGuard.openDirectory) else {
                findings.append("could not make .git/\(name): \(String(cString: strerror(Glibc.errno)))")
                return nil
            }
            fchown(made.raw, owner.st_uid, owner.st_gid)
            quarantine = made
            return made
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
