/// Everything a caller asks of one sandboxed run, before validation. `SandboxLauncher`
/// validates it completely before anything is created, so bad input changes nothing.
public struct SandboxRequest: Sendable {
    public var command: [String]
    /// Host directory mounted read-write at /workspace (nil: the current directory).
    public var workspace: String?
    /// Accept `/`, $HOME, their ancestors or the Warden home as the workspace (R4).
    public var allowBroadWorkspace = false
    /// `--env K=V`, in order; later entries win.
    public var environment: [(name: String, value: String)] = []
    /// `--env-pass NAME`: copied from the caller's environment when set there.
    public var passEnvironment: [String] = []
    public var readOnlyBinds: [BindRequest] = []
    public var readWriteBinds: [BindRequest] = []
    /// A prepared root whose /usr, /bin, /lib*, /sbin and /etc entries replace the host's.
    public var rootfs: String?
    public var network: NetworkMode = .none
    /// `--seccomp FILE` (nil: the shipped default profile).
    public var seccompProfile: String?
    public var limits = ResourceLimits()
    /// Limits the caller gave explicitly; the others come from the org policy's defaults.
    public var explicitLimits: Set<LimitKind> = []
    /// The shipped seccomp profile used when `seccompProfile` is nil (the policy names it).
    public var shippedProfileName = "default"
    public var allowDegraded: Set<Layer> = []
    public var manifestPath: String?
    public var terminal: TerminalMode = .auto
    /// Print the denial summary and the layers at exit.
    public var verbose = false
    /// Let `SandboxLauncher.spawner` fork processes inside the running sandbox (an agent's
    /// attach and terminals). pid 1 then keeps CAP_SETUID and CAP_SETGID in its user namespace
    /// to give them the workload's identity.
    public var allowsSpawn = false
    /// Copy-on-write views (environment snapshots); needs Warden's own id range (root).
    public var overlays: [OverlayRequest] = []
    public var profile: WorkloadProfile = .agent
    /// Files added to the sandbox's root (absolute paths outside every mount).
    public var generatedFiles: [GeneratedFile] = []

    public init(command: [String]) {
        self.command = command
    }
}

/// `--ro SRC[:DST]` / `--rw SRC[:DST]`.
public struct BindRequest: Sendable, Equatable {
    public var source: String
    public var target: String

    public init(source: String, target: String) {
        self.source = source
        self.target = target
    }

    /// Parses "SRC" or "SRC:DST".
    public static func parse(_ text: String) -> BindRequest? {
        guard !text.isEmpty else { return nil }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 {
            guard !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            return BindRequest(source: parts[0], target: parts[1])
        }
        return BindRequest(source: text, target: text)
    }
}

public enum NetworkMode: String, Sendable, CaseIterable {
    /// A private network namespace with only loopback.
    case none
    /// Egress through the network guard: only what the policy allows.
    case allowlist
    /// Egress through the guard: anything public that no rule denies.
    case monitor
    /// Egress through the guard: nothing refused by rules (still recorded).
    case open

    /// Whether the network guard captures this sandbox's egress.
    public var guarded: Bool { self != .none }
}

public enum TerminalMode: String, Sendable, CaseIterable {
    /// A relayed pseudo-terminal when the caller's standard streams include a terminal.
    case auto
    /// Never: terminals are not passed in at all (their descriptors get /dev/null).
    case never
}

/// Isolation layers a run may explicitly give up (`--allow-degraded LAYER`). Everything else
/// is mandatory: without namespaces there is no sandbox.
public enum Layer: String, Sendable, CaseIterable, Comparable {
    case seccomp
    case landlock
    case cgroups
    /// A private range of host ids and the idmapped workspace (R5).
    case identity

    public static func < (a: Layer, b: Layer) -> Bool { a.rawValue < b.rawValue }
}

/// The resource limits a caller may set, so defaults can fill the rest.
public enum LimitKind: Sendable, Hashable, CaseIterable {
    case memory, pids, cpus, timeout
}

public struct ResourceLimits: Sendable, Equatable {
    public static let defaultMemory: UInt64 = 4 << 30
    public static let defaultPids: UInt64 = 1024

    public var memoryBytes: UInt64 = ResourceLimits.defaultMemory
    public var pids: UInt64 = ResourceLimits.defaultPids
    /// CPU time as a fraction of one CPU (1.5 = one and a half); nil: no cap.
    public var cpus: Double?
    public var timeoutSeconds: Double?
    public var openFiles: UInt64 = 65536

    public init() {}

    /// Parses "4G", "512M", "1048576" (powers of 1024).
    public static func parseBytes(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = text.uppercased()
        if digits.hasSuffix("B") { digits.removeLast() }
        if digits.hasSuffix("I") { digits.removeLast() }
        var multiplier: UInt64 = 1
        if let last = digits.last, let unit = units[last] {
            multiplier = unit
            digits.removeLast()
        }
        guard let value = UInt64(digits), value > 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}
