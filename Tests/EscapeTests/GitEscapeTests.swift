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

    @Test("a commondir created inside is moved aside after the run; one present at start is refused")
    func commondir() throws {
        let workspace = Workspace(git: true)
        let script = "mkdir -p /workspace/.evil && printf '[core]\\n\\tfsmonitor = echo pwned\\n' > /workspace/.evil/config && echo ../.evil > /workspace/.git/commondir && echo PLANTED"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("PLANTED"), "writing commondir itself cannot be prevented by mounts")
        #expect(!FileManager.default.fileExists(atPath: workspace.file(".git/commondir")), "moved aside after the run")
        #expect(result.stderr.contains("moved .git/commondir to .git/warden-quarantine-"), "\(result.stderr)")
        let config = Warden.execute("/usr/bin/git", ["-C", workspace.path, "config", "--show-origin", "core.fsmonitor"])
        #expect(config.stdout.isEmpty, "host git no longer reads the planted config: \(config.stdout)")
        workspace.write(".git/commondir", "../.evil\n")
        let refused = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(refused.status == 120)
        #expect(refused.stderr.contains("commondir exists"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("submodule git directories cannot be renamed and replaced; new ones are moved aside")
    func submoduleGitDirectories() throws {
        let workspace = Workspace(git: true)
        let module = workspace.file(".git/modules/sub")
        try Self.makeSubmoduleGitDirectory(module)
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
        #expect(!FileManager.default.fileExists(atPath: workspace.file(".git/modules/evil")), "the new git directory is moved aside")
        #expect(result.stderr.contains("moved .git/modules/evil"))
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
        #expect(result.stderr.contains("moved sub/.git/commondir"), "\(result.stderr)")
        #expect(!result.stderr.contains("moved sub/.git to"), "the repository was there before: it stays")
        #expect(Files.isDirectory(workspace.file("sub/.git")))
    }

    @Test("every repository made inside is moved aside, staged or not, at any depth or name")
    func nestedRepositories() throws {
        let workspace = Workspace(git: true)
        let marker = Self.plantPayload(workspace)
        let script = """
            cd /workspace && git config --global user.email a@example.test && git config --global user.name a
            for d in deep/a/b/evil "$(printf 'x\\377')" committed; do mkdir -p "$d" && git -C "$d" init -q && cat payload.cfg >> "$d/.git/config"; done
            git -C committed commit -q --allow-empty -m c
            git update-index --add --cacheinfo 160000,$(git -C committed rev-parse HEAD),committed && git commit -q -m gitlink
            git rm -q --cached committed && echo STAGED-AND-UNSTAGED
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("STAGED-AND-UNSTAGED"), "\(result.stderr)")
        #expect(Files.lstat(workspace.file("deep/a/b/evil/.git")) == nil)
        #expect(Files.lstat(workspace.file("committed/.git")) == nil)
        let left = Warden.execute("/usr/bin/find", [".", "-name", ".git", "-not", "-path", "./.git"], directory: workspace.path)
        #expect(left.stdout.isEmpty, "no nested .git keeps its name, whatever its path's bytes: \(left.stdout)")
        #expect(result.stderr.contains("moved deep/a/b/evil/.git to deep/a/b/evil/.git.warden-quarantine-"), "\(result.stderr)")
        #expect(result.stderr.contains("moved committed/.git"), "\(result.stderr)")
        // The developer restores the committed gitlink and looks at the tree: nothing runs.
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "reset", "-q"])
        Self.hostGitStatus(workspace)
        #expect(!FileManager.default.fileExists(atPath: marker), "host git ran the sandbox's configuration")
    }

    @Test("a repository the developer had keeps its name unless the sandbox touched it")
    func developerRepositories() throws {
        let workspace = Workspace(git: true)
        for name in ["kept", "used", "changed"] {
            try FileManager.default.createDirectory(atPath: workspace.file(name), withIntermediateDirectories: true)
            Warden.execute("/usr/bin/git", ["-C", workspace.file(name), "init", "-q"])
        }
        let script = """
            cd /workspace && git -C used status --short >/dev/null && git -C used update-index --add --cacheinfo 100644,e69de29bb2d1d6434b8b29ae775ad8c2e48c5391,f &&
            git -C changed config core.fsmonitor 'echo PWNED' && echo DONE
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("DONE"), "\(result.stderr)")
        #expect(Files.isDirectory(workspace.file("kept/.git")))
        #expect(Files.lstat(workspace.file("used/.git")) == nil, "git used inside changes the .git itself: set aside, nothing lost")
        #expect(Files.lstat(workspace.file("changed/.git")) == nil)
        #expect(result.stderr.contains("moved changed/.git to changed/.git.warden-quarantine-"), "\(result.stderr)")
    }

    @Test("a git directory moved into place as a nested .git is set aside, and so is a quarantine renamed back")
    func movedIntoPlace() throws {
        let workspace = Workspace(git: true)
        let marker = Self.plantPayload(workspace)
        // Repository content that happens to be shaped like a git directory, there before the run.
        Warden.execute("/usr/bin/git", ["init", "-q", "--bare", workspace.file("fixtures/repo")])
        Warden.execute("/usr/bin/git", ["config", "-f", workspace.file("fixtures/repo/config"), "core.bare", "false"])
        Warden.execute("/usr/bin/git", ["config", "-f", workspace.file("fixtures/repo/config"), "core.fsmonitor", "echo PWNED > \(marker); false"])
        let stage = "git update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,x"
        let moved = Warden.run([], ["sh", "-c", "cd /workspace && mkdir x && mv fixtures/repo x/.git && \(stage) && echo MOVED"], in: workspace)
        #expect(moved.stdout.contains("MOVED"), "\(moved.stderr)")
        #expect(Files.lstat(workspace.file("x/.git")) == nil, "\(moved.stderr)")
        Self.hostGitStatus(workspace)
        #expect(!FileManager.default.fileExists(atPath: marker))
        // A later run sees the quarantined name and renames it back: a rename changes ctime.
        let back = Warden.run([], ["sh", "-c", "cd /workspace/x && mv .git.warden-quarantine-* .git && echo RENAMED"], in: workspace)
        #expect(back.stdout.contains("RENAMED"), "\(back.stderr)")
        #expect(Files.lstat(workspace.file("x/.git")) == nil, "\(back.stderr)")
        Self.hostGitStatus(workspace)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a .git file naming a git directory in the work tree is refused, whatever path or symlink leads there")
    func gitFilesIntoWorkTree() throws {
        // A gitlink whose .git names a directory beside it.
        let gitlinked = Workspace(git: true)
        Warden.execute("/usr/bin/git", ["init", "-q", "--bare", gitlinked.file("gd")])
        try FileManager.default.createDirectory(atPath: gitlinked.file("sub"), withIntermediateDirectories: true)
        gitlinked.write("sub/.git", "gitdir: ../gd\n")
        Warden.execute("/usr/bin/git", ["-C", gitlinked.path, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub"])
        let refused = Warden.run([], ["touch", "/workspace/ran"], in: gitlinked)
        #expect(refused.status == 120)
        #expect(refused.stderr.contains("sub/.git points to a git directory inside the workspace"), "\(refused.stderr)")
        // The workspace's own .git file, through a symlink to the workspace outside it.
        let linked = Workspace()
        Warden.execute("/usr/bin/git", ["init", "-q", "--bare", linked.file(".bare")])
        try FileManager.default.createSymbolicLink(atPath: linked.root + "/alias", withDestinationPath: linked.path)
        linked.write(".git", "gitdir: \(linked.root)/alias/.bare\n")
        let through = Warden.run([], ["touch", "/workspace/ran"], in: linked)
        #expect(through.status == 120)
        #expect(through.stderr.contains("points to a git directory inside the workspace"), "\(through.stderr)")
        #expect(!FileManager.default.fileExists(atPath: gitlinked.file("ran")) && !FileManager.default.fileExists(atPath: linked.file("ran")))
    }

    @Test("files the repository's configuration includes, and its hooksPath, are read-only inside when in the workspace")
    func configuredPaths() throws {
        let workspace = Workspace(git: true)
        try FileManager.default.createDirectory(atPath: workspace.file(".husky"), withIntermediateDirectories: true)
        workspace.write(".husky/pre-commit", "#!/bin/sh\nexit 0\n")
        workspace.write("team.gitconfig", "[user]\n\tname = team\n")
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "config", "core.hooksPath", ".husky"])
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "config", "include.path", "../team.gitconfig"])
        let script = """
            echo 'echo PWNED' >> /workspace/.husky/pre-commit 2>/dev/null && echo HOOK-WRITTEN
            echo '#!/bin/sh' > /workspace/.husky/post-commit 2>/dev/null && echo HOOK-ADDED
            printf '[core]\\n\\tfsmonitor = x\\n' >> /workspace/team.gitconfig 2>/dev/null && echo INCLUDE-WRITTEN
            echo ran
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.lastLine == "ran", "\(result.stderr)")
        #expect(!result.stdout.contains("HOOK-WRITTEN"))
        #expect(!result.stdout.contains("HOOK-ADDED"))
        #expect(!result.stdout.contains("INCLUDE-WRITTEN"))
        #expect(workspace.read("team.gitconfig") == "[user]\n\tname = team\n")
        // What an included file includes is protected too.
        workspace.write("team.gitconfig", "[user]\n\tname = team\n[include]\n\tpath = local.gitconfig\n")
        workspace.write("local.gitconfig", "[user]\n\temail = t@example.test\n")
        let nested = Warden.run([], ["sh", "-c", "echo '[core] fsmonitor = x' >> /workspace/local.gitconfig 2>/dev/null && echo NESTED-WRITTEN; echo ran"], in: workspace)
        #expect(nested.lastLine == "ran", "\(nested.stderr)")
        #expect(!nested.stdout.contains("NESTED-WRITTEN"))
        // A missing included file could be created inside: the run is refused.
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "config", "--add", "include.path", "../later.gitconfig"])
        let refused = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(refused.status == 120)
        #expect(refused.stderr.contains("later.gitconfig, which does not exist"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("a .git file pointing to a git directory inside the workspace is refused")
    func gitFileInsideWorkspace() throws {
        let workspace = Workspace()
        Warden.execute("/usr/bin/git", ["init", "-q", "--bare", workspace.file(".bare")])
        workspace.write(".git", "gitdir: ./.bare\n")
        let result = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(result.status == 120)
        #expect(result.stderr.contains("points to a git directory inside the workspace"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("a broken .git is repaired so git cannot take the workspace for a bare repository")
    func bareRepositoryShape() throws {
        let workspace = Workspace(git: true)
        _ = Self.plantPayload(workspace)
        let script = """
            rm /workspace/.git/HEAD && rm -rf /workspace/.git/refs && chmod 000 /workspace/.git/objects && printf 'ref: refs/heads/main\\n' > /workspace/HEAD &&
            mkdir /workspace/objects /workspace/refs && cp /workspace/payload.cfg /workspace/config && echo BROKEN
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("BROKEN"), "\(result.stderr)")
        #expect(workspace.read(".git/HEAD") == "ref: refs/heads/main\n")
        #expect(Files.isDirectory(workspace.file(".git/refs")))
        #expect((Files.lstat(workspace.file(".git/objects"))?.st_mode ?? 0) & 0o700 == 0o700, "the owner's access is back")
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
            #expect(result.stderr.contains("moved .git/" + name), "\(name): \(result.stderr)")
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
        try Self.makeSubmoduleGitDirectory(module)
        let slashed = workspace.file(".git/modules/libs/foo")
        try Self.makeSubmoduleGitDirectory(slashed, head: true)
        let script = """
            cd /workspace/.git/modules && echo x >> libs/foo/config 2>/dev/null && echo SLASHED-WRITTEN; mkdir libs/evil &&
            mkdir -p sub/modules/nested/hooks .warden-quarantine-x/hooks "$(printf 'bad\\377')/hooks" &&
            ln -s ../../.evil link && echo PLANTED
            """
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("PLANTED"), "\(result.stderr)")
        #expect(!result.stdout.contains("SLASHED-WRITTEN"), "a submodule named libs/foo is protected like any other")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.file(".git/modules")).sorted() == ["libs", "sub"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.file(".git/modules/libs")) == ["foo"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: module).sorted() == ["config", "hooks"])
        #expect(result.stderr.contains("moved .git/modules/sub/modules"), "\(result.stderr)")
    }

    @Test("a .git/modules symlink is refused at start and removed when made inside")
    func modulesSymlink() throws {
        let workspace = Workspace(git: true)
        let made = Warden.run([], ["sh", "-c", "ln -s ../.evil /workspace/.git/modules && echo LINKED"], in: workspace)
        #expect(made.stdout.contains("LINKED"))
        #expect(Files.lstat(workspace.file(".git/modules")) == nil)
        #expect(made.stderr.contains("moved .git/modules"), "\(made.stderr)")
        try FileManager.default.createSymbolicLink(atPath: workspace.file(".git/modules"), withDestinationPath: "../.evil")
        let refused = Warden.run([], ["touch", "/workspace/ran"], in: workspace)
        #expect(refused.status == 120)
        #expect(refused.stderr.contains(".git/modules is a symlink"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("a repository made where there was none is moved aside")
    func newRepository() {
        let workspace = Workspace()
        let result = Warden.run([], ["git", "init", "-q", "/workspace"], in: workspace)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("moved .git to .git.warden-quarantine-"), "\(result.stderr)")
        #expect(Files.lstat(workspace.file(".git")) == nil)
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

    /// A submodule's git directory as the developer has it before the run: hooks and a config
    /// (and a HEAD when asked).
    static func makeSubmoduleGitDirectory(_ path: String, head: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: path + "/hooks", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path + "/config", contents: Data("[core]\n\tbare = false\n".utf8))
        if head { _ = FileManager.default.createFile(atPath: path + "/HEAD", contents: Data("ref: refs/heads/main\n".utf8)) }
    }

    static func hostGitStatus(_ workspace: Workspace) {
        Warden.execute("/usr/bin/git", ["-C", workspace.path, "status", "--short"], timeout: 30)
    }
}
