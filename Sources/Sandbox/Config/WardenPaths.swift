import Glibc
import WardenSystem

/// Where Warden keeps its state (`home`) and its per-boot runtime files (`runtime`: id-slot
/// locks). Root: /var/lib/warden and /run/warden. Others: ~/.local/state/warden and
/// $XDG_RUNTIME_DIR/warden. `WARDEN_HOME` overrides the home.
public struct WardenPaths: Sendable {
    public let home: String
    public let runtime: String

    public init(home: String, runtime: String) {
        self.home = home
        self.runtime = runtime
    }

    public static func forCurrentUser() -> WardenPaths {
        let uid = getuid()
        let home: String
        if let override = Host.environment("WARDEN_HOME"), !override.isEmpty {
            home = override
        } else if uid == 0 {
            home = "/var/lib/warden"
        } else {
            let base = Host.homeDirectory(of: uid) ?? Host.environment("HOME") ?? "/tmp"
            home = base + "/.local/state/warden"
        }
        let runtime: String
        if uid == 0 {
            runtime = "/run/warden"
        } else if let xdg = Host.environment("XDG_RUNTIME_DIR"), !xdg.isEmpty {
            runtime = xdg + "/warden"
        } else {
            runtime = "/tmp/warden-\(uid)"
        }
        return WardenPaths(home: home, runtime: runtime)
    }

    /// Creates a private directory (0700, owned by us) or verifies an existing one is ours and
    /// not writable by others: a lock or cache another user could replace would be a hole.
    public static func ensurePrivateDirectory(_ path: String) throws(SandboxError) {
        do {
            try Files.makeDirectories(path, mode: 0o700)
        } catch {
            throw SandboxError.setup("create \(path)", error)
        }
        guard let st = Files.lstat(path), (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SandboxError(.setupFailed, "\(path) is not a directory")
        }
        guard st.st_uid == getuid(), st.st_mode & 0o022 == 0 else {
            throw SandboxError(.setupFailed, "\(path) must be owned by uid \(getuid()) and not writable by others")
        }
    }
}
