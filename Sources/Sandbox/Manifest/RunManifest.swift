import FoundationEssentials

/// The JSON record of one run (`--manifest FILE`): which layers actually engaged and how, what
/// was denied, how the run ended. Written whatever the outcome, so a failed start is recorded
/// too.
public struct RunManifest: Codable, Sendable {
    public var version = 1
    public var runID: String
    public var started: String
    public var wallSeconds: Double = 0
    public var command: [String]
    public var workspace: String
    public var exit: ExitRecord = ExitRecord()
    public var layers = Layers()
    /// Layers explicitly given up with --allow-degraded (and recorded as such).
    public var degraded: [String] = []
    /// seccomp denials by syscall name ("i386:getpid" for foreign-architecture calls).
    public var seccompDenials: [String: Int] = [:]
    /// Sockets seccomp refused (raw, packet, families other than unix/inet/netlink), by kind:
    /// the network guard records them in the audit log.
    public var refusedSockets: [RefusedSocket] = []
    public var limits = LimitEvents()
    public var peakMemoryBytes: UInt64?
    public var warnings: [String] = []
    /// Milliseconds spent in each phase of the launch, in order (where the time goes).
    public var phases: [Phase] = []
    /// What the network guard saw and decided (guarded modes only).
    public var network: NetworkSummary?

    /// One kind of socket the workload tried to open and was refused, and how often.
    public struct RefusedSocket: Codable, Sendable, Equatable {
        public var family: Int32
        public var type: Int32
        public var proto: Int32
        public var count: Int

        public init(family: Int32, type: Int32, proto: Int32, count: Int) {
            self.family = family
            self.type = type
            self.proto = proto
            self.count = count
        }

        /// "AF_INET SOCK_RAW protocol 1".
        public var description: String {
            let families: [Int32: String] = [1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"]
            let types: [Int32: String] = [1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 10: "SOCK_PACKET"]
            return "\(families[family] ?? "family \(family)") \(types[type] ?? "type \(type)") protocol \(proto)"
        }
    }

    /// Totals of the network guard for this run; the details are in the audit log.
    public struct NetworkSummary: Codable, Sendable {
        public var mode: String
        public var connections: Int
        public var allowed: Int
        public var refused: Int
        public var bytesUp: Int64
        public var bytesDown: Int64
        public var dnsQueries: Int
        public var dnsRefused: Int
        public var packetsDropped: Int
        /// Raw, packet and other sockets seccomp refused (each kind recorded in the audit log).
        public var socketsRefused: Int
        public var auditRecords: Int64
        /// Why audit records could not be written (egress was refused from then on).
        public var auditFailure: String?
        public var namespaceInode: UInt64
        /// Detection flags written (nil in manifests from before detection), and the rule that
        /// stopped the sandbox, if one did.
        public var flags: Int?
        public var stoppedBy: String?

        public init(mode: String, connections: Int, allowed: Int, refused: Int, bytesUp: Int64, bytesDown: Int64, dnsQueries: Int,
                    dnsRefused: Int, packetsDropped: Int, socketsRefused: Int = 0, auditRecords: Int64, auditFailure: String?, namespaceInode: UInt64,
                    flags: Int? = nil, stoppedBy: String? = nil) {
            self.flags = flags
            self.stoppedBy = stoppedBy
            self.mode = mode
            self.connections = connections
            self.allowed = allowed
            self.refused = refused
            self.bytesUp = bytesUp
            self.bytesDown = bytesDown
            self.dnsQueries = dnsQueries
            self.dnsRefused = dnsRefused
            self.packetsDropped = packetsDropped
            self.socketsRefused = socketsRefused
            self.auditRecords = auditRecords
            self.auditFailure = auditFailure
            self.namespaceInode = namespaceInode
        }
    }

    public struct Phase: Codable, Sendable {
        public var name: String
        public var milliseconds: Double
    }

    public init(runID: String, started: String, command: [String], workspace: String) {
        self.runID = runID
        self.started = started
        self.command = command
        self.workspace = workspace
    }

    public struct ExitRecord: Codable, Sendable {
        /// Warden's exit status.
        public var status: Int32 = 0
        /// exited, signaled, timeout, out-of-memory, setup-failed, exec-failed, layer-unavailable.
        public var reason = "unknown"
        public var code: Int32?
        public var signal: String?
        public var message: String?
    }

    public struct Layers: Codable, Sendable {
        public var namespaces: [String] = []
        public var identity: Identity?
        public var seccomp: Seccomp?
        public var landlock: Landlock?
        public var cgroups: Cgroups?
        public var capabilities: Capabilities?
        public var rlimits: [String: [UInt64]] = [:]
        public var mounts: [MountRecord] = []
        public var network: String = "none"
        public var terminal: String = "none"
    }

    public struct Identity: Codable, Sendable {
        public var mode: String
        public var hostIDBase: UInt32?
        public var hostIDCount: UInt32?
        public var workloadUID: UInt32
        public var workloadHostUID: UInt32?
        public var workspaceOwnerUID: UInt32
        public var idmappedWorkspace: Bool
    }

    public struct Seccomp: Codable, Sendable {
        public var profile: String
        public var source: String
        public var sha256: String
        public var rules: Int
        public var instructions: Int
        public var baselineVersion: Int
        public var baselineRules: Int
        public var filters: Int
        public var libseccomp: String
        public var ignoredSyscalls: [String]
    }

    public struct Landlock: Codable, Sendable {
        public var abi: Int
        public var handledAccess: [String]
        public var scopes: [String]
        public var rules: [Rule]

        public struct Rule: Codable, Sendable {
            public var path: String
            public var access: [String]
        }
    }

    public struct Cgroups: Codable, Sendable {
        public var version: Int
        public var path: String
        public var memoryBytes: UInt64
        public var pids: UInt64
        public var cpus: Double?
    }

    public struct Capabilities: Codable, Sendable {
        public var effective: [String]
        public var permitted: [String]
        public var inheritable: [String]
        public var bounding: [String]
        public var ambient: [String]
        public var securebits: String
        public var noNewPrivs: Bool
        public var uid: UInt32
        public var gid: UInt32
    }

    public struct LimitEvents: Codable, Sendable {
        public var timedOut = false
        public var timeoutSeconds: Double?
        public var outOfMemory = false
        public var pidsLimitReached = false
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(self) else { return Array("{}\n".utf8) }
        return Array(data) + [0x0a]
    }
}
