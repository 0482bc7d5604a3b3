/// Decides whether a directory may be the workspace (R4). The workspace is mounted
/// read-write; a workspace of $HOME would hand the agent ~/.ssh, and one of `/` the whole host.
public struct WorkspaceGuard: Sendable {
    /// The caller's home directory (canonical).
    public let home: String?
    /// Warden's own state directory (canonical when it exists).
    public let wardenHome: String?

    /// System trees that are never a project directory; they and everything below them are
    /// refused, as are their ancestors.
    public static let systemTrees = ["/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/usr", "/bin",
                                     "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib", "/var/log",
                                     "/var/run"]
    /// Directories refused themselves (their subdirectories are fine: /var/tmp/project).
    public static let systemDirectories = ["/", "/var", "/home", "/tmp", "/var/tmp", "/srv", "/opt", "/mnt", "/media"]

    public init(home: String?, wardenHome: String?) {
        self.home = home
        self.wardenHome = wardenHome
    }

    /// Returns why `path` (canonical, absolute) is too broad to be mounted writable, or nil when
    /// it is acceptable. `subject` names what is being checked in the message.
    public func refusal(for path: String, subject: String = "the workspace") -> String? {
        if path == "/" { return "\(subject) would be the whole file system (/)" }
        if let home, path == home || isAncestor(path, of: home) {
            return "\(subject) \(path) would expose your home directory \(home) read-write"
        }
        if let wardenHome, path == wardenHome || isAncestor(path, of: wardenHome) || isAncestor(wardenHome, of: path) {
            return "\(subject) \(path) overlaps Warden's own state directory \(wardenHome)"
        }
        for tree in Self.systemTrees where path == tree || isAncestor(tree, of: path) || isAncestor(path, of: tree) {
            return "\(subject) \(path) overlaps the system directory \(tree)"
        }
        if Self.systemDirectories.contains(path) {
            return "\(subject) \(path) is a shared system directory"
        }
        return nil
    }

    /// True when `ancestor` is a strict ancestor directory of `path`.
    func isAncestor(_ ancestor: String, of path: String) -> Bool {
        if ancestor == "/" { return path != "/" }
        return path.hasPrefix(ancestor + "/")
    }
}
