/// A copy-on-write view of a directory inside the sandbox (overlayfs): read-only layers over
/// what the sandbox would otherwise see there, and optionally a writable upper layer. This is
/// how an environment's `install` writes system directories and $HOME inside its own snapshot
/// layer, never the host's, and how later agents see that snapshot.
public struct OverlayRequest: Sendable, Equatable {
    /// A directory written by an earlier sandbox, and the first host id of the range that
    /// sandbox had: its files are shown with the same owners inside this one (idmapped).
    public struct Layer: Sendable, Equatable {
        public var path: String
        public var idBase: UInt32

        public init(path: String, idBase: UInt32) {
            self.path = path
            self.idBase = idBase
        }
    }

    public enum Upper: Sendable, Equatable {
        /// Read-only.
        case none
        /// A host directory holding `upper/` and `work/`: what the sandbox changes is kept there.
        case directory(String)
        /// The same, the layer's root the agent user's (mode 0700): an agent's $HOME kept as
        /// the next layer of its snapshot (agentCanUpdateSnapshot).
        case agentDirectory(String)
        /// A tmpfs: the sandbox may change anything, and it is all discarded (root mode given).
        case scratch(mode: UInt32)
    }

    /// Absolute path inside the sandbox.
    public var target: String
    /// Topmost first.
    public var layers: [Layer]
    /// A host directory beneath the layers, its system ids 0...999 shown as the sandbox's own,
    /// so that the sandbox's root may copy its files up (never change them). Only directories
    /// that hold no secret belong here: the sandbox's root reads all of it.
    public var host: String?
    public var upper: Upper
    /// What the sandbox would see at `target` stays on top of the layers (generated /etc files
    /// such as passwd must win); otherwise it is the bottom layer when there is no `host`.
    public var sandboxViewOnTop: Bool

    public init(target: String, layers: [Layer] = [], host: String? = nil, upper: Upper = .none, sandboxViewOnTop: Bool = false) {
        self.target = target
        self.layers = layers
        self.host = host
        self.upper = upper
        self.sandboxViewOnTop = sandboxViewOnTop
    }
}

/// Who the workload is. `agent`: the unprivileged user 1000 with every capability set empty.
/// `install`: root inside the sandbox's own user namespace (its whole id range), with the few
/// capabilities package managers need and nothing else; still no_new_privs, the same seccomp
/// filter and Landlock (writable only where overlays have an upper layer).
public enum WorkloadProfile: String, Sendable {
    case agent
    case install

    /// CAP_CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, KILL, SETGID, SETUID, SETFCAP.
    public static let installCapabilities: [Int32] = [0, 1, 2, 3, 4, 5, 6, 7, 31]
}

/// A file the sandbox's root gets (read-only), e.g. the install profile's `sudo`.
public struct GeneratedFile: Sendable, Equatable {
    public var path: String
    public var contents: [UInt8]
    public var mode: UInt32
    /// A file of the system tree this one is also shown at (bound over it, read-only), e.g.
    /// the trust bundle over /etc/ssl/certs/ca-certificates.crt. Skipped when that file does
    /// not exist.
    public var covers: String?
    /// A file of the workload's home (under /home/agent): it and the directories made for it
    /// belong to the workload's user, as if it had written them (canary credentials).
    public var ownedByWorkload: Bool

    public init(path: String, contents: [UInt8], mode: UInt32, covers: String? = nil, ownedByWorkload: Bool = false) {
        self.path = path
        self.contents = contents
        self.mode = mode
        self.covers = covers
        self.ownedByWorkload = ownedByWorkload
    }
}
