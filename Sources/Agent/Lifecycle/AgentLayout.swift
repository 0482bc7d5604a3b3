import Glibc
import WardenSystem

/// Where an agent's files live under Warden's home, and who owns each.
///
///     agents/                     root 0700: nobody but Warden reaches an agent's files
///       <id>/                     root 0700
///         inbox/                  root 0755, read-only at /agent/inbox in the sandbox
///           prompt                the prompt (0644 inside a tree only root can reach)
///           followups/NNNN        follow-ups, numbered from 0001, in the order received
///         outbox/                 the developer's, read-write at /agent/outbox (idmapped)
///           status                what the agent says it is doing (it may write this)
///         log                     the agent's standard output and error, secrets redacted
///         owner.json              the owner process and the sandbox's pid 1 (pid, start time)
///         owner.log               the owner process's own messages
///         stop                    present once someone asked the agent to stop (who, why)
///         snapshot                the environment snapshot it runs on (kept from the sweep meanwhile)
///         summary.json            what it changed (diffstat, snippets) and sent (network totals)
///         control.sock            the owner's socket (root 0600) while the sandbox runs: attach,
///                                 terminals, ports
///     workspaces/                 root 0711
///       <id>/                     the developer's, 0700
///         workspace/              the clone, at /workspace in the sandbox
///         handoff.git/            a bare repository the branch is brought into and pushed from
///
/// The clone is the developer's (they clone it, as themselves) and sits apart from the
/// prompt, which is root's: the developer's access to their own clone never reaches anyone's
/// prompt.
public struct AgentLayout: Sendable {
    public let home: String

    public init(home: String) {
        self.home = home
    }

    public var agentsRoot: String { home + "/agents" }
    public var workspacesRoot: String { home + "/workspaces" }

    public func directory(_ id: String) -> String { agentsRoot + "/" + id }
    public func inbox(_ id: String) -> String { directory(id) + "/inbox" }
    public func prompt(_ id: String) -> String { inbox(id) + "/prompt" }
    public func followUps(_ id: String) -> String { inbox(id) + "/followups" }
    public func outbox(_ id: String) -> String { directory(id) + "/outbox" }
    public func log(_ id: String) -> String { directory(id) + "/log" }
    public func ownerFile(_ id: String) -> String { directory(id) + "/owner.json" }
    public func ownerLog(_ id: String) -> String { directory(id) + "/owner.log" }
    public func stopFile(_ id: String) -> String { directory(id) + "/stop" }
    public func controlSocket(_ id: String) -> String { directory(id) + "/control.sock" }
    public func summary(_ id: String) -> String { directory(id) + "/summary.json" }
    public func snapshotKey(_ id: String) -> String { directory(id) + "/snapshot" }
    public func checkout(_ id: String) -> String { workspacesRoot + "/" + id }
    public func workspace(_ id: String) -> String { checkout(id) + "/workspace" }
    public func handoff(_ id: String) -> String { checkout(id) + "/handoff.git" }

    /// Where the sandbox sees the inbox and the outbox.
    public static let sandboxInbox = "/agent/inbox"
    public static let sandboxOutbox = "/agent/outbox"

    /// A new agent id: 12 lower-case hex digits.
    public static func newID() -> String { hexString(Host.randomBytes(6)) }

    /// Ids are Warden's own; anything else is never used as a path.
    public static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 12 && id.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// Makes the two roots with their modes (and corrects the modes of existing ones).
    public func prepareRoots() throws(SystemError) {
        try Self.directory(agentsRoot, mode: 0o700, uid: 0, gid: 0)
        try Self.directory(workspacesRoot, mode: 0o711, uid: 0, gid: 0)
    }

    /// Makes the agent's root-owned directory with its inbox, and its outbox for the developer.
    public func prepareAgent(_ id: String, ownerUID: UInt32, ownerGID: UInt32) throws(SystemError) {
        try Self.directory(directory(id), mode: 0o700, uid: 0, gid: 0, mustBeNew: true)
        try Self.directory(inbox(id), mode: 0o755, uid: 0, gid: 0, mustBeNew: true)
        try Self.directory(followUps(id), mode: 0o755, uid: 0, gid: 0, mustBeNew: true)
        try Self.directory(outbox(id), mode: 0o700, uid: ownerUID, gid: ownerGID, mustBeNew: true)
    }

    /// A directory with exactly this owner and mode; never through a symbolic link.
    static func directory(_ path: String, mode: mode_t, uid: UInt32, gid: UInt32, mustBeNew: Bool = false) throws(SystemError) {
        if mkdir(path, mode) != 0 {
            guard errno == EEXIST, !mustBeNew else { throw SystemError.current("mkdir(\(path))") }
        }
        let fd = FileDescriptor(try check("open(\(path))") { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
        try check("chown(\(path))") { fchown(fd.raw, uid, gid) }
        try check("chmod(\(path))") { fchmod(fd.raw, mode) }
    }
}
