import Foundation
import Glibc
@testable import Sandbox
import Testing
import WardenSystem

/// The index reader against indexes written by the real git, in every format version.
@Suite("Git index")
struct GitIndexTests {
    /// A repository with two files, a gitlink and an intent-to-add entry (extended flags).
    private static func repository() throws -> String {
        let path = NSTemporaryDirectory() + "warden-index-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path + "/dir", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path + "/a.txt", contents: Data("a".utf8))
        _ = FileManager.default.createFile(atPath: path + "/dir/b.txt", contents: Data("b".utf8))
        _ = FileManager.default.createFile(atPath: path + "/later.txt", contents: Data("c".utf8))
        try git(path, "init", "-q")
        try git(path, "add", "a.txt", "dir/b.txt")
        try git(path, "add", "-N", "later.txt")
        try git(path, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,dir/sub")
        return path
    }

    @discardableResult
    private static func git(_ directory: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", directory] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileReadUnknown) }
        return String(decoding: data, as: UTF8.self)
    }

    private static func index(_ path: String, _ name: String = "index") throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path + "/.git/" + name)))
    }

    @Test("versions 2, 3 and 4 give the same paths and gitlinks", arguments: [2, 3, 4])
    func versions(_ version: Int) throws {
        let path = try Self.repository()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.git(path, "update-index", "--index-version", String(version))
        let contents = try #require(GitIndex.read(try Self.index(path)))
        #expect(contents.paths == ["a.txt", "dir/b.txt", "dir/sub", "later.txt"])
        #expect(contents.gitlinks == ["dir/sub"])
        #expect(contents.sharedIndex == nil)
    }

    @Test("a split index names its shared index, and both parts are read")
    func splitIndex() throws {
        let path = try Self.repository()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.git(path, "update-index", "--split-index")
        try Self.git(path, "update-index", "--add", "--cacheinfo", "160000,2222222222222222222222222222222222222222,other")
        let contents = try #require(GitIndex.read(try Self.index(path)))
        let shared = try #require(contents.sharedIndex)
        let sharedContents = try #require(GitIndex.read(try Self.index(path, "sharedindex." + shared)))
        #expect(Set(contents.gitlinks + sharedContents.gitlinks) == ["dir/sub", "other"])
        let reading = GitGuard.readIndex(try FileDescriptor.open(path + "/.git", O_RDONLY | O_DIRECTORY), hashSize: 20)
        guard case .paths(let links) = reading else {
            Issue.record("the split index was not read: \(reading)")
            return
        }
        #expect(links == ["dir/sub", "other"])
    }

    @Test("malformed indexes are refused, not half read")
    func malformed() throws {
        let path = try Self.repository()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let data = try Self.index(path)
        #expect(GitIndex.read(Array(data.prefix(40))) == nil, "truncated")
        #expect(GitIndex.read(Array("DIRX".utf8) + data.dropFirst(4)) == nil, "bad signature")
        var version = data
        version[7] = 9
        #expect(GitIndex.read(version) == nil, "unknown version")
        var count = data
        count[8] = 0x7f
        #expect(GitIndex.read(count) == nil, "more entries than the file holds")
        #expect(GitIndex.read([]) == nil)
    }
}
