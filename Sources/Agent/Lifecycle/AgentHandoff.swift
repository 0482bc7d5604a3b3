import Glibc
import WardenSystem

/// Brings an agent's branch from its outbox to the origin without any git on the host reading
/// agent-controlled configuration (R16). The sandbox wrote a bundle (a plain file); the host
/// copies it out by descriptor (never following a link the agent planted), fetches it into a
/// bare repository that Warden made and the sandbox never saw, and pushes from there. Every
/// git runs as the developer: clone and push use their own credentials, which therefore never
/// enter the sandbox.
struct AgentHandoff {
    let layout: AgentLayout
    let id: String
    let branch: String
    let origin: String
    let uid: UInt32
    let gid: UInt32
    let home: String

    static let maximumBundleBytes: Int64 = 4 << 30

    /// Fetches the bundle into the handoff repository and pushes the branch; the error says
    /// which step failed and why.
    func run() throws(WorkspaceError) {
        let bundle = layout.checkout(id) + "/handoff.bundle"
        try copyBundle(to: bundle)
        defer {
            unlink(bundle)
            if let outbox = try? FileDescriptor.open(layout.outbox(id), O_RDONLY | O_DIRECTORY, resolve: .noLinks) {
                unlinkat(outbox.raw, "handoff.bundle", 0)
            }
        }
        let repository = layout.handoff(id)
        if Files.lstat(repository) == nil {
            try AgentWorkspace.git(["init", "--quiet", "--bare", repository], uid: uid, gid: gid, home: home, what: "make the handoff repository",
                                   isolated: true)
        }
        // Nothing of the workspace is read: the bundle is data, checked object by object.
        try AgentWorkspace.git(["-C", repository, "-c", "core.hooksPath=/dev/null", "-c", "transfer.fsckObjects=true",
                                "fetch", "--quiet", "--no-recurse-submodules", "--no-write-fetch-head", "--", bundle, "+HEAD:refs/heads/\(branch)"],
                               uid: uid, gid: gid, home: home, what: "read the agent's branch from its bundle", isolated: true)
        // The developer's own configuration applies here (their credential helpers); the
        // repository pushed from is Warden's.
        try AgentWorkspace.git(["-C", repository, "-c", "core.hooksPath=/dev/null", "-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never",
                                "push", "--quiet", "--no-recurse-submodules", "--", origin, "refs/heads/\(branch):refs/heads/\(branch)"],
                               uid: uid, gid: gid, home: home, what: "push \(branch) to \(origin)")
    }

    /// Copies the outbox's bundle to `destination` (the developer's, 0600): opened without
    /// following links, and only a regular file of a bounded size.
    private func copyBundle(to destination: String) throws(WorkspaceError) {
        do throws(SystemError) {
            let outbox = try FileDescriptor.open(layout.outbox(id), O_RDONLY | O_DIRECTORY, resolve: .noLinks)
            let source = FileDescriptor(try check("open(handoff.bundle)") { openat(outbox.raw, "handoff.bundle", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) })
            var st = stat()
            try check("fstat(handoff.bundle)") { fstat(source.raw, &st) }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw SystemError(errno: EINVAL, step: "the bundle is not a regular file") }
            guard Int64(st.st_size) <= Self.maximumBundleBytes else { throw SystemError(errno: EFBIG, step: "the bundle is larger than 4 GiB") }
            unlink(destination)
            let target = FileDescriptor(try check("create(\(destination))") {
                open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            })
            try check("chown(\(destination))") { fchown(target.raw, uid, gid) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var copied: Int64 = 0
            while copied <= Int64(st.st_size) {
                let n = buffer.withUnsafeMutableBytes { read(source.raw, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw SystemError.current("read(handoff.bundle)") }
                if n == 0 { break }
                try target.writeAll(Array(buffer[0..<n]))
                copied += Int64(n)
            }
        } catch {
            throw WorkspaceError(message: "the agent's branch could not be collected: \(error.description)")
        }
    }
}
