@testable import Sandbox
import Testing

/// The reader of include and hooksPath entries, against git's configuration syntax.
@Suite("Git configuration paths")
struct GitConfigPathsTests {
    private func read(_ text: String) -> GitConfigPaths { GitConfigPaths(Array(text.utf8)) }

    @Test("includes, conditional includes and hooksPath, in git's spellings")
    func entries() {
        let paths = read("""
            [core]
            \trepositoryformatversion = 0
            [include]
            \tpath = ../team.gitconfig
            [includeIf "gitdir:~/work/"]
            \tpath = "with space.cfg" ; comment
            [CORE] HooksPath=.husky # trailing
            [branch "include-fix"]
            \tremote = origin
            # include.path = not-an-entry
            """)
        #expect(paths.includes == ["../team.gitconfig", "with space.cfg"])
        #expect(paths.hooksPaths == [".husky"])
        #expect(!paths.unclear)
    }

    @Test("escapes and continuations are unfolded as git does")
    func escapes() {
        let paths = read("[include]\n\tpath = a\\\nb\n\tpath = \"q\\\"x\"\n")
        #expect(paths.includes == ["ab", "q\"x"])
        #expect(!paths.unclear)
    }

    @Test("what the parser cannot account for is unclear, so the run is refused", arguments: [
        "[include\n\tpath = x\n",
        "[include]\n\tpath = \"unterminated\n",
        "[core]\n\thooksPath = a\\q\n",
        "[core]\n\t=x\n",
    ])
    func unclear(_ text: String) {
        #expect(read(text).unclear, "\(text)")
    }

    @Test("a config without such entries has none")
    func none() {
        let paths = read("[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://example.test/r.git\n")
        #expect(paths.includes.isEmpty && paths.hooksPaths.isEmpty && !paths.unclear)
    }
}
