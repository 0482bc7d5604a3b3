import Foundation
import Testing
@testable import Agent

/// The /etc an install sees beneath its own: only what every local user may read anyway.
struct SnapshotBaseEtcTests {
    @Test func onlyWorldReadableEntriesAreCopiedAndSetIDBitsAreDropped() throws {
        let base = NSTemporaryDirectory() + "warden-base-etc-" + UUID().uuidString
        let source = base + "/etc", destination = base + "/copy"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let files: [(String, String, Int16)] = [("apt/sources.list", "deb file:/x ./\n", 0o644), ("apt/auth.conf", "machine x password p\n", 0o600),
                                                ("shells", "/bin/sh\n", 0o644), ("login.defs", "secret\n", 0o640), ("dpkg/dpkg.cfg", "x\n", 0o4755)]
        try FileManager.default.createDirectory(atPath: source + "/apt/auth.conf.d", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: source + "/dpkg", withIntermediateDirectories: true)
        for (name, text, mode) in files {
            FileManager.default.createFile(atPath: source + "/" + name, contents: Data(text.utf8))
            chmod(source + "/" + name, mode_t(mode))
        }
        FileManager.default.createFile(atPath: source + "/apt/auth.conf.d/private.conf", contents: Data("token\n".utf8))
        chmod(source + "/apt/auth.conf.d/private.conf", 0o644)
        chmod(source + "/apt/auth.conf.d", 0o700)
        try FileManager.default.createSymbolicLink(atPath: source + "/xattr.conf", withDestinationPath: "/etc/shadow")
        FileManager.default.createFile(atPath: source + "/shadow", contents: Data("root:$6$hash\n".utf8))

        try SnapshotBaseEtc.copy(from: source, into: destination)
        let exists = { (name: String) in FileManager.default.fileExists(atPath: destination + "/" + name) }
        #expect(exists("apt/sources.list") && exists("shells"))
        #expect(!exists("apt/auth.conf") && !exists("login.defs"), "files only their owner or group may read stay out")
        #expect(!exists("apt/auth.conf.d"), "a directory others may not search stays out, with what it holds")
        #expect(!exists("shadow"), "entries outside the list are never copied")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: destination + "/xattr.conf")) == "/etc/shadow",
                "a link is copied as a link (it resolves inside the sandbox, where nothing secret is)")
        let mode = (try FileManager.default.attributesOfItem(atPath: destination + "/dpkg/dpkg.cfg")[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o755, "setuid is dropped: \(String(mode, radix: 8))")
    }
}
