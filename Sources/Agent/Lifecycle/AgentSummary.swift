import FoundationEssentials
import Glibc
import Sandbox
import WardenSystem

/// What an agent changed and what its sandbox sent out, kept beside its log
/// (`agents/<id>/summary.json`, root 0600). The change summary is computed by git on the host in
/// Warden's own handoff repository (isolated configuration, no external diff, no textconv, no
/// attributes), between the base commit recorded right after the clone and the branch as the
/// agent left it: the agent cannot forge it. Snippets are code: none is kept in privacy mode.
public struct AgentSummary: Codable, Sendable {
    /// git's `--shortstat` line, or "no changes".
    public var shortStat: String
    /// git's `--stat` (bounded).
    public var diffStat: String
    /// The start of the patch; nil in privacy mode.
    public var snippets: String?
    /// The agent sandbox's network totals (nil: it had no network).
    public var network: RunManifest.NetworkSummary?

    static let maxStatBytes = 16 << 10
    static let maxSnippetBytes = 16 << 10

    /// Runs git (as the developer, isolated) in the handoff repository; its output goes to files
    /// in the developer's agent directory, read back bounded (by `readOwnFile`) and removed.
    static func changes(repository: String, base: String, branch: String, scratch: String, uid: UInt32, gid: UInt32, home: String,
                        snippets: Bool) -> (shortStat: String, diffStat: String, snippets: String?)? {
        let safe = ["-C", repository, "-c", "core.attributesFile=/dev/null", "diff", "--no-ext-diff", "--no-textconv",
                    "--no-color", "--no-renames"]
        func run(_ options: [String], _ name: String, limit: Int) -> String? {
            let file = scratch + "/" + name
            unlink(file)
            defer { unlink(file) }
            guard let result = try? AgentWorkspace.runGit(safe + options + ["--output=\(file)", base, "refs/heads/\(branch)", "--"],
                                                          uid: uid, gid: gid, home: home, what: "summarize the changes", isolated: true,
                                                          timeoutSeconds: 120),
                  result.status == 0, let bytes = readOwnFile(scratch, name, uid: uid, limit: limit) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard let short = run(["--shortstat"], "summary.shortstat", limit: 4096),
              let stat = run(["--stat=120", "--stat-count=100"], "summary.stat", limit: maxStatBytes) else { return nil }
        let patch = snippets ? run(["-U2"], "summary.patch", limit: maxSnippetBytes) : nil
        let line = short.trimmingWhitespace()
        return (line.isEmpty ? "no changes" : line, stat, patch)
    }

    /// A file git (as the developer) wrote in the developer's own directory, read as root: never
    /// through a link, only a regular file with one name that the developer owns (so neither a
    /// symbolic link nor a hard link to someone else's file is read), without blocking on a FIFO.
    static func readOwnFile(_ directory: String, _ name: String, uid: UInt32, limit: Int) -> [UInt8]? {
        guard let parent = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY, resolve: .noLinks) else { return nil }
        let fd = openat(parent.raw, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let file = FileDescriptor(fd)
        var st = stat()
        guard fstat(file.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == uid, st.st_nlink == 1 else { return nil }
        var bytes = [UInt8](repeating: 0, count: limit)
        let n = bytes.withUnsafeMutableBytes { pread(file.raw, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Array(bytes[0..<n]) : nil
    }

    public static func read(_ path: String) -> AgentSummary? {
        guard let bytes = try? Files.read(path, limit: 1 << 20) else { return nil }
        return try? JSONDecoder().decode(AgentSummary.self, from: Data(bytes))
    }

    func write(_ path: String) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { throw SystemError(errno: EINVAL, step: "encode \(path)") }
        try Files.writeAtomically(path, Array(data), mode: 0o600)
    }
}
