import Foundation
import Glibc
@testable import Sandbox
import Testing
import WardenSystem

/// The after-run scan for repositories the sandbox made or changed, on trees built here: what it
/// sets aside is decided by the kernel's ctime and creation time against the start instant.
@Suite("Git work-tree scan")
struct GitWorkTreeScanTests {
    private final class Tree {
        let path = NSTemporaryDirectory() + "warden-scan-" + UUID().uuidString

        init() {
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        deinit {
            try? FileManager.default.removeItem(atPath: path)
        }

        func gitDirectory(_ relative: String) {
            try? FileManager.default.createDirectory(atPath: path + "/" + relative + "/hooks", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path + "/" + relative + "/HEAD", contents: Data("ref: refs/heads/main\n".utf8))
            _ = FileManager.default.createFile(atPath: path + "/" + relative + "/config", contents: Data("[core]\n".utf8))
        }

        func write(_ relative: String, _ text: String) {
            _ = FileManager.default.createFile(atPath: path + "/" + relative, contents: Data(text.utf8))
        }

        func exists(_ relative: String) -> Bool { Files.lstat(path + "/" + relative) != nil }

        /// The instant the sandbox would start: after a pause, so that what was made before
        /// does not share its clock tick.
        func start() -> Int64 {
            usleep(30_000)
            return FileTimes.coarseNow()
        }

        func scan(since start: Int64, budget: Int = GitWorkTreeScan.entryLimit) throws -> [String] {
            var scan = GitWorkTreeScan(root: try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY), startTime: start,
                                       runID: "test", rootHadGit: true, knownGitlinks: [:])
            scan.budget = budget
            scan.run()
            return scan.findings
        }
    }

    @Test("untouched repositories keep their name; made or reconfigured ones are set aside")
    func madeAndChanged() throws {
        let tree = Tree()
        tree.gitDirectory("kept/.git")
        tree.gitDirectory("reconfigured/.git")
        tree.gitDirectory("hooked/.git")
        let start = tree.start()
        tree.gitDirectory("a/b/c/made/.git")
        tree.write("reconfigured/.git/config", "[core]\n\tfsmonitor = x\n")
        tree.write("hooked/.git/hooks/post-checkout", "#!/bin/sh\n")
        let findings = try tree.scan(since: start)
        #expect(tree.exists("kept/.git"))
        for moved in ["a/b/c/made", "reconfigured", "hooked"] {
            #expect(!tree.exists(moved + "/.git"), "\(moved)")
            #expect(tree.exists(moved + "/.git.warden-quarantine-test"), "\(moved)")
        }
        #expect(findings.count == 3, "\(findings)")
    }

    @Test("a .git file or symlink naming a git directory the sandbox changed is set aside")
    func redirections() throws {
        let tree = Tree()
        tree.gitDirectory("store/one")
        tree.gitDirectory("store/two")
        tree.gitDirectory("store/three")
        try FileManager.default.createDirectory(atPath: tree.path + "/file", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree.path + "/link", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree.path + "/calm", withIntermediateDirectories: true)
        tree.write("file/.git", "gitdir: ../store/one\n")
        try FileManager.default.createSymbolicLink(atPath: tree.path + "/link/.git", withDestinationPath: "../store/two")
        tree.write("calm/.git", "gitdir: \(tree.path)/store/three\n")
        let start = tree.start()
        tree.write("store/one/config", "[core]\n\tfsmonitor = x\n")
        tree.write("store/two/commondir", "../elsewhere\n")
        let findings = try tree.scan(since: start)
        #expect(!tree.exists("file/.git") && !tree.exists("link/.git"), "\(findings)")
        #expect(tree.exists("calm/.git"), "its git directory is unchanged")
    }

    @Test("a tree larger than the budget is reported, not silently half checked")
    func budget() throws {
        let tree = Tree()
        for index in 0..<20 { try FileManager.default.createDirectory(atPath: tree.path + "/d\(index)", withIntermediateDirectories: true) }
        let findings = try tree.scan(since: tree.start(), budget: 10)
        #expect(findings.count == 1)
        #expect(findings.first?.contains("were not checked") == true)
    }

    @Test("the directory reader returns every entry, across several reads, names as bytes")
    func reader() throws {
        let tree = Tree()
        let long = String(repeating: "n", count: 200)
        for index in 0..<1000 { tree.write("\(long)\(index)", "") }
        let odd = tree.path + "/odd\u{1}name"
        _ = FileManager.default.createFile(atPath: odd, contents: Data())
        var reader = DirectoryReader()
        var names = Set<String>()
        let complete = reader.forEach(try FileDescriptor.open(tree.path, O_RDONLY | O_DIRECTORY)) { name, _ in
            names.insert(String(decoding: name, as: UTF8.self))
        }
        #expect(complete)
        #expect(names.count == 1001)
        #expect(names.contains("odd\u{1}name"))
        #expect(!names.contains(".") && !names.contains(".."))
    }
}
