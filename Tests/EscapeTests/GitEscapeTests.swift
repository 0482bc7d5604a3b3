import Foundation
import Glibc
import Testing
import WardenSystem

/// Escape attempts through git: what the sandbox writes in the workspace repository must not
/// run as the developer when they next use git there (R16).
@Suite("Escape: git", .enabled(if: Warden.isRoot))
struct GitEscapeTests {
    @Test("git hooks and config stay read-only and .git cannot be swapped")
    func gitProtection() throws {
        let workspace = Workspace(git: true)
        let hook = workspace.file(".git/hooks/post-checkout")
        let script = """
            echo '#!/bin/sh' > /workspace/.git/hooks/post-checkout 2>/dev/null && echo HOOK-WRITTEN
            echo '[core] fsmonitor = /workspace/x' >> /workspace/.git/config 2>/dev/null && echo CONFIG-WRITTEN
            mv /workspace/.git /workspace/.git-old 2>/dev/null && echo GIT-MOVED
            rm -rf /workspace/.git/hooks 2>/dev/null; test -d /workspace/.git/hooks && echo HOOKS-KEPT
            git -C /workspace status --short >/dev/null && echo GIT-WORKS
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(!result.stdout.contains("HOOK-WRITTEN"))
        #expect(!result.stdout.contains("CONFIG-WRITTEN"))
        #expect(!result.stdout.contains("GIT-MOVED"))
        #expect(result.stdout.contains("HOOKS-KEPT"))
        #expect(result.stdout.contains("GIT-WORKS"), "git must still work inside: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: hook))
        #expect(!(workspace.read(".git/config") ?? "").contains("fsmonitor"))
    }

    @Test("a commondir created inside is removed after the run; one present at start is refused")
    func commondir() throws {
        let workspace = Workspace(git: true)
        let script = "mkdir -p /workspace/.evil && printf '[core]\\n\\tfsmonitor = echo pwned\\n' > /workspace/.evil/config && echo ../.evil > /workspace/.git/commondir && echo PLANTED"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("PLANTED"), "writing commondir itself cannot be prevented by mounts")
        #expect(!FileManager.default.fileExists(atPath: workspace.file(".git/commondir")), "removed after the run")
        #expect(result.stderr.contains("removed .git/commondir"), "\(result.stderr)")
        let config = Warden.execute("/usr/bin/git", ["-C", workspace.path, "config", "--show-origin", "core.fsmonitor"])
        #expect(config.stdout.isEmpty, "host git no longer reads the planted config: \(config.stdout)")
        workspace.write(".git/commondir", "../.evil\n")
        let refused = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(refused.status == 120)
        #expect(refused.stderr.contains("commondir exists"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("submodule git directories cannot be renamed and replaced; new ones are removed")
    func submoduleGitDirectories() throws {
        let workspace = Workspace(git: true)
        let module = workspace.file(".git/modules/sub")
        try FileManager.default.createDirectory(atPath: module + "/hooks", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: module + "/config", contents: Data("[core]\n\tbare = false\n".utf8))
        let script = [
            "echo x >> /workspace/.git/modules/sub/config 2>/dev/null && echo CONFIG-WRITTEN",
            "mv /workspace/.git/modules/sub /workspace/.git/modules/sub.old 2>/dev/null && echo SUB-MOVED",
            "mv /workspace/.git/modules /workspace/.git/modules.old 2>/dev/null && echo MODULES-MOVED",
            "mkdir -p /workspace/.git/modules/evil/hooks && echo '#!/bin/sh' > /workspace/.git/modules/evil/hooks/post-checkout && echo NEW-MODULE",
        ].joined(separator: "\n")
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(!result.stdout.contains("CONFIG-WRITTEN"))
        #expect(!result.stdout.contains("SUB-MOVED"))
        #expect(!result.stdout.contains("MODULES-MOVED"))
        #expect(result.stdout.contains("NEW-MODULE"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file(".git/modules/evil")), "the new git directory is removed")
        #expect(result.stderr.contains("removed .git/modules/evil"))
        #expect(try String(contentsOfFile: module + "/config", encoding: .utf8) == "[core]\n\tbare = false\n")
    }

    @Test("a .git file (worktree, submodule checkout) is read-only inside")
    func gitFile() throws {
        let workspace = Workspace()
        workspace.write(".git", "gitdir: /somewhere/else/.git/worktrees/x\n")
        let script = "echo 'gitdir: .evil' > /workspace/.git 2>/dev/null && echo REWRITTEN; rm -f /workspace/.git 2>/dev/null && echo REMOVED; true"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(!result.stdout.contains("REWRITTEN"))
        #expect(!result.stdout.contains("REMOVED"))
        #expect(workspace.read(".git") == "gitdir: /somewhere/else/.git/worktrees/x\n")
    }

    @Test("names from the workspace reach Warden's messages without terminal escapes (R13)")
    func escapesInMessages() throws {
        let workspace = Workspace(git: true)
        let hostile = workspace.file(".git/modules/x\u{1b}]52;c;cHduZWQ=\u{07}\u{1b}[2J")
        try FileManager.default.createDirectory(atPath: hostile, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: hostile + "/hooks", withDestinationPath: "/tmp")
        let result = Warden.run([], ["true"], in: workspace)
        #expect(result.status == 120)
        #expect(result.stderr.contains("is a symlink"))
        #expect(!result.stderr.contains("\u{1b}"), "\(Array(result.stderr.utf8))")
        #expect(!result.stderr.contains("\u{07}"))
    }

    @Test("a .git/hooks symlink is refused before anything runs (R14)")
    func hooksSymlinkRefused() throws {
        let workspace = Workspace(git: true)
        try FileManager.default.removeItem(atPath: workspace.file(".git/hooks"))
        try FileManager.default.createSymbolicLink(atPath: workspace.file(".git/hooks"), withDestinationPath: "../evil-hooks")
        let result = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(result.status == 120)
        #expect(result.stderr.contains(".git/hooks is a symlink"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    // MARK: - What the audit undoes after the run (R16)

    @Test("a repository staged behind a gitlink inside is set aside: host git status does not run its config",
          arguments: ["", "git update-index --split-index && "])
    func gitlinkRepository(_ prelude: String) throws {
        let workspace = Workspace(git: true)
        let marker = Self.plantPayload(workspace)
        let script = "cd /workspace && mkdir sub && git -C sub init -q && cat payload.cfg >> sub/.git/config && " + prelude +
            "git update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,sub && echo STAGED"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("STAGED"), "\(result.stderr)")
        #expect(result.stderr.contains("moved sub/.git to sub/.git.warden-quarantine-"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.file("sub/.git")))
        let aside = try #require(try FileManager.default.contentsOfDirectory(atPath: workspace.file("sub")).first { $0.hasPrefix(".git.warden-quarantine-") })
        Self.hostGitStatus(workspace)
        #expect(!FileManager.default.fileExists(atPath: marker), "host git status ran the sandbox's configuration")
        // Control: put the repository back and the same host command runs the payload.
        try FileManager.default.moveItem(atPath: workspace.file("sub/" + aside), toPath: workspace.file("sub/.git"))
        Self.hostGitStatus(workspace)
        #expect(FileManager.default.fileExists(atPath: marker), "the payload is live: without the audit the attack works")
    }

    @Test("the repository of a gitlink present at start is protected and audited like .git")
    func existingGitlink() throws {
        let workspace = Workspace(git: true)
        try FileManager.default.createDirectory(atPath: workspace.file("sub"), withIntermediateDirectories: true)
        Warden.execute("/usr/bin/git", ["-C", workspace.file("sub"), "init", "-q"])
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub"])
        let config = try #require(workspace.read("sub/.git/config"))
        let script = """
            cd /workspace/sub && echo '[core] fsmonitor = x' >> .git/config 2>/dev/null && echo CONFIG-WRITTEN
            mv .git .git-old 2>/dev/null && echo MOVED
            echo ../../.evil > .git/commondir && mkdir .git/rebase-merge && echo PLANTED
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(!result.stdout.contains("CONFIG-WRITTEN"))
        #expect(!result.stdout.contains("MOVED"))
        #expect(result.stdout.contains("PLANTED"), "\(result.stderr)")
        #expect(workspace.read("sub/.git/config") == config)
        #expect(Files.lstat(workspace.file("sub/.git/commondir")) == nil)
        #expect(Files.lstat(workspace.file("sub/.git/rebase-merge")) == nil)
        #expect(result.stderr.contains("removed sub/.git/commondir"), "\(result.stderr)")
        #expect(!result.stderr.contains("quarantine"), "the repository was there before: it stays")
    }

    @Test("an index replaced by a symlink is removed: its gitlinks cannot be checked")
    func indexSymlink() throws {
        let workspace = Workspace(git: true)
        let script = "cd /workspace && git update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,sub && mv .git/index .git/real-index && ln -s real-index .git/index && echo SWAPPED"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("SWAPPED"), "\(result.stderr)")
        #expect(Files.lstat(workspace.file(".git/index")) == nil)
        #expect(result.stderr.contains("removed .git/index"), "\(result.stderr)")
    }

    @Test("a broken .git is repaired so git cannot take the workspace for a bare repository")
    func bareRepositoryShape() throws {
        let workspace = Workspace(git: true)
        _ = Self.plantPayload(workspace)
        let script = """
            rm /workspace/.git/HEAD && rm -rf /workspace/.git/refs && printf 'ref: refs/heads/main\\n' > /workspace/HEAD &&
            mkdir /workspace/objects /workspace/refs && cp /workspace/payload.cfg /workspace/config && echo BROKEN
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("BROKEN"), "\(result.stderr)")
        #expect(workspace.read(".git/HEAD") == "ref: refs/heads/main\n")
        #expect(Files.isDirectory(workspace.file(".git/refs")))
        #expect(Files.lstat(workspace.file("HEAD")) == nil)
        #expect(result.stderr.contains("restored .git/HEAD"), "\(result.stderr)")
        let gitDirectory = Warden.execute("/usr/bin/git", ["-C", workspace.path, "rev-parse", "--git-dir"])
        #expect(gitDirectory.stdout == ".git\n", "\(gitDirectory.stdout) \(gitDirectory.stderr)")
        let config = Warden.execute("/usr/bin/git", ["-C", workspace.path, "config", "core.fsmonitor"])
        #expect(config.stdout.isEmpty, "host git reads the sandbox's config: \(config.stdout)")
    }

    @Test("repository state and worktree configuration made inside are removed")
    func repositoryState() throws {
        let workspace = Workspace(git: true)
        _ = Self.plantPayload(workspace)
        let script = """
            cd /workspace/.git && mkdir rebase-merge sequencer && echo 'exec echo PWNED' > rebase-merge/git-rebase-todo &&
            mkdir -p worktrees/x && echo ../.. > worktrees/x/commondir && cp /workspace/payload.cfg config.worktree && echo PLANTED
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("PLANTED"), "\(result.stderr)")
        for name in ["rebase-merge", "sequencer", "worktrees", "config.worktree"] {
            #expect(Files.lstat(workspace.file(".git/" + name)) == nil, "\(name)")
            #expect(result.stderr.contains("removed .git/" + name), "\(name): \(result.stderr)")
        }
    }

    @Test("linked-worktree metadata present at start is read-only inside")
    func worktreeMetadata() throws {
        let workspace = Workspace(git: true)
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-q", "--allow-empty", "-m", "x"])
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "worktree", "add", "-q", workspace.root + "/linked"])
        let gitdir = try #require(workspace.read(".git/worktrees/linked/gitdir"))
        let script = "echo ../../.evil > /workspace/.git/worktrees/linked/commondir 2>/dev/null && echo COMMONDIR; echo /workspace/x > /workspace/.git/worktrees/linked/gitdir 2>/dev/null && echo GITDIR; true"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(!result.stdout.contains("COMMONDIR"))
        #expect(!result.stdout.contains("GITDIR"))
        #expect(workspace.read(".git/worktrees/linked/gitdir") == gitdir)
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("no name, link or nesting keeps a git directory made inside .git/modules")
    func moduleEvasions() throws {
        let workspace = Workspace(git: true)
        let module = workspace.file(".git/modules/sub")
        try FileManager.default.createDirectory(atPath: module + "/hooks", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: module + "/config", contents: Data("[core]\n\tbare = false\n".utf8))
        let script = """
            cd /workspace/.git/modules && mkdir -p sub/modules/nested/hooks .warden-quarantine-x/hooks "$(printf 'bad\\377')/hooks" &&
            ln -s ../../.evil link && echo PLANTED
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("PLANTED"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.file(".git/modules")) == ["sub"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: module).sorted() == ["config", "hooks"])
        #expect(result.stderr.contains("removed .git/modules/sub/modules"), "\(result.stderr)")
    }

    @Test("a .git/modules symlink is refused at start and removed when made inside")
    func modulesSymlink() throws {
        let workspace = Workspace(git: true)
        let made = Warden.run([], ["sh", "-c", "ln -s ../.evil /workspace/.git/modules && echo LINKED"], in: workspace)
        #expect(made.stdout.contains("LINKED"))
        #expect(Files.lstat(workspace.file(".git/modules")) == nil)
        #expect(made.stderr.contains("removed .git/modules"), "\(made.stderr)")
        try FileManager.default.createSymbolicLink(atPath: workspace.file(".git/modules"), withDestinationPath: "../.evil")
        let refused = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(refused.status == 120)
        #expect(refused.stderr.contains(".git/modules is a symlink"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("a repository made where there was none is reported")
    func newRepository() {
        let workspace = Workspace()
        let result = Warden.run([], ["git", "init", "-q", "/workspace"], in: workspace)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("new .git made in the sandbox"), "\(result.stderr)")
    }

    // MARK: - Helpers

    /// Writes `payload.cfg`: git configuration that runs a command when host git reads it. The
    /// command leaves a marker outside the workspace, where only the host can write; returns
    /// the marker's path.
    static func plantPayload(_ workspace: Workspace) -> String {
        let marker = workspace.root + "/pwned"
        workspace.write("payload.cfg", "[core]\n\tfsmonitor = \"echo PWNED > \(marker); false\"\n")
        return marker
    }

    static func hostGitStatus(_ workspace: Workspace) {
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "status", "--short"], timeout: 30)
    }
}
