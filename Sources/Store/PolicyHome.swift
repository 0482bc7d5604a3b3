import Glibc
import WardenSystem

/// Where the organisation's policy is read from. A policy binds a caller only if the caller
/// cannot rewrite it, so for anyone but root the home must be root's all the way up: the
/// directory and `policy.db` owned by root and not writable by group or others, and every
/// directory above owned by root and not writable by others (a sticky /tmp is accepted). A
/// home that fails this (a user's own ~/.local/state/warden, a WARDEN_HOME they made) is not
/// where their policy lives: the system home is.
public enum PolicyHome {
    public static let system = "/var/lib/warden"

    /// The home for `uid`: `requested` (from --home or WARDEN_HOME) for root, or when it is
    /// trusted; otherwise the system home. `trusted` says which happened.
    public static func resolve(requested: String?, uid: UInt32) -> (path: String, trusted: Bool) {
        guard let requested, !requested.isEmpty else { return (system, true) }
        if uid == 0 || isRootsChain(requested) { return (requested, true) }
        return (system, false)
    }

    /// True when nobody but root can change what `home` holds.
    public static func isRootsChain(_ home: String) -> Bool {
        guard let st = Files.lstat(home) else {
            // Not made yet: trusted only if root will make it in a root-only parent.
            guard let slash = home.lastIndex(of: "/"), slash != home.startIndex else { return false }
            return isRootsChain(String(home[..<slash]))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == 0, st.st_mode & 0o022 == 0 else { return false }
        if let db = Files.lstat(home + "/policy.db") {
            guard (db.st_mode & S_IFMT) == S_IFREG, db.st_uid == 0, db.st_mode & 0o022 == 0 else { return false }
        }
        var current = home
        while let slash = current.lastIndex(of: "/"), current != "/" {
            current = slash == current.startIndex ? "/" : String(current[..<slash])
            guard let parent = Files.lstat(current), (parent.st_mode & S_IFMT) == S_IFDIR, parent.st_uid == 0 else { return false }
            let sticky = parent.st_mode & S_ISVTX != 0
            if parent.st_mode & 0o022 != 0 && !sticky { return false }
        }
        return true
    }
}
