/// Sandbox defaults and who may weaken a sandbox (R24).
public struct SandboxPolicy: Codable, Sendable, Equatable {
    /// Memory limit in bytes.
    public var memory: ByteSize = ByteSize(bytes: 4 << 30)
    public var pids: UInt64 = 1024
    /// CPU time as a fraction of one CPU; nil: no cap.
    public var cpus: Double? = nil
    /// Wall-clock limit of one run; nil: none.
    public var timeout: PolicyDuration? = nil
    /// The shipped seccomp profile runs use unless a user may and does name another.
    public var seccompProfile = "default"
    /// Layers nobody may give up with `--allow-degraded`, whatever their grants.
    public var requiredLayers: [SandboxLayer] = [.seccomp]
    /// Who may use each option that weakens a sandbox (default: admins only).
    public var weakening = WeakeningGrants()
    /// Disk watermark (R19): no agent starts, and no snapshot is built, while the file system
    /// holding Warden's home has less free space than this.
    public var minFreeDisk = ByteSize(bytes: 1 << 30)
    /// Whether an environment's `agentCanUpdateSnapshot` is honoured: what such an agent leaves
    /// in $HOME becomes the next layer of its snapshot (never a secret or a canary). Off by
    /// default: only `install`, which people review in the repository, builds a snapshot.
    public var agentSnapshotUpdates = false

    public init() {}

    enum CodingKeys: String, CodingKey { case memory, pids, cpus, timeout, seccompProfile, requiredLayers, weakening, minFreeDisk, agentSnapshotUpdates }

    /// Policies stored before `minFreeDisk` or `agentSnapshotUpdates` existed decode with the defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        memory = try container.decode(ByteSize.self, forKey: .memory)
        pids = try container.decode(UInt64.self, forKey: .pids)
        cpus = try container.decodeIfPresent(Double.self, forKey: .cpus)
        timeout = try container.decodeIfPresent(PolicyDuration.self, forKey: .timeout)
        seccompProfile = try container.decode(String.self, forKey: .seccompProfile)
        requiredLayers = try container.decode([SandboxLayer].self, forKey: .requiredLayers)
        weakening = try container.decode(WeakeningGrants.self, forKey: .weakening)
        minFreeDisk = try container.decodeIfPresent(ByteSize.self, forKey: .minFreeDisk) ?? ByteSize(bytes: 1 << 30)
        agentSnapshotUpdates = try container.decodeIfPresent(Bool.self, forKey: .agentSnapshotUpdates) ?? false
    }

    public func grant(for option: WeakeningOption) -> WeakeningGrant { weakening[option] }
}

/// One grant per weakening option. A fixed array rather than a dictionary keyed by the enum:
/// this value is built on `warden run`'s launch path, and a dictionary of a custom key type
/// makes a static binary search its protocol conformances at run time (≈1 ms here).
public struct WeakeningGrants: Codable, Sendable, Equatable {
    private var grants = Array(repeating: WeakeningGrant.adminsOnly, count: WeakeningOption.allCases.count)

    public init() {}

    public subscript(option: WeakeningOption) -> WeakeningGrant {
        get { grants[option.index] }
        set { grants[option.index] = newValue }
    }

    /// Stored as an object keyed by option name, as a dictionary would be.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for option in WeakeningOption.allCases {
            if let grant = try container.decodeIfPresent(WeakeningGrant.self, forKey: Key(stringValue: option.rawValue)) { self[option] = grant }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for option in WeakeningOption.allCases { try container.encode(self[option], forKey: Key(stringValue: option.rawValue)) }
    }
}

/// Isolation layers a run may give up; the names `warden run --allow-degraded` takes.
public enum SandboxLayer: String, Codable, Sendable, CaseIterable, Comparable {
    case seccomp, landlock, cgroups, identity

    public static func < (a: SandboxLayer, b: SandboxLayer) -> Bool { a.rawValue < b.rawValue }
}

/// Options that weaken a sandbox; each use needs a grant and is recorded (R24).
public enum WeakeningOption: String, Codable, Sendable, CaseIterable, Comparable {
    /// `--allow-degraded LAYER`.
    case allowDegraded = "allow-degraded"
    /// `--seccomp FILE`: a profile other than the shipped one.
    case customSeccomp = "seccomp"
    /// `--rw SRC[:DST]`: host paths writable from inside.
    case readWriteBind = "rw"
    /// `--net open`.
    case openNetwork = "net-open"
    /// `--allow DEST`: egress beyond the org allow list.
    case allowDestination = "allow"
    /// `--allow-broad-workspace`: /, $HOME or an ancestor as the workspace (R4).
    case broadWorkspace = "broad-workspace"

    public static func < (a: WeakeningOption, b: WeakeningOption) -> Bool { a.rawValue < b.rawValue }

    /// Position in `allCases`.
    var index: Int {
        switch self {
        case .allowDegraded: return 0
        case .customSeccomp: return 1
        case .readWriteBind: return 2
        case .openNetwork: return 3
        case .allowDestination: return 4
        case .broadWorkspace: return 5
        }
    }

    /// How the option is spelled on the command line, for messages.
    public var flag: String {
        switch self {
        case .allowDegraded: return "--allow-degraded"
        case .customSeccomp: return "--seccomp"
        case .readWriteBind: return "--rw"
        case .openNetwork: return "--net open"
        case .allowDestination: return "--allow"
        case .broadWorkspace: return "--allow-broad-workspace"
        }
    }
}

/// Who holds a grant: every user with one of `roles`, and the users named.
public struct WeakeningGrant: Codable, Sendable, Equatable {
    public var roles: [Role]
    public var users: [String]

    public init(roles: [Role] = [], users: [String] = []) {
        self.roles = roles
        self.users = users
    }

    public static let adminsOnly = WeakeningGrant(roles: [.admin])
}

/// A size in bytes written as people write it: 512M, 4G (powers of 1024).
public struct ByteSize: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var bytes: UInt64

    public init(bytes: UInt64) {
        self.bytes = bytes
    }

    public static func parse(_ text: String) throws(PolicyError) -> ByteSize {
        var digits = Substring(text.uppercased())
        if digits.hasSuffix("IB") { digits = digits.dropLast(2) } else if digits.hasSuffix("B") { digits = digits.dropLast() }
        var multiplier: UInt64 = 1
        // A switch, not a dictionary: parsed on `warden run`'s launch path (see WeakeningGrants).
        switch digits.last {
        case "K": multiplier = 1 << 10
        case "M": multiplier = 1 << 20
        case "G": multiplier = 1 << 30
        case "T": multiplier = 1 << 40
        default: break
        }
        if multiplier > 1 { digits = digits.dropLast() }
        guard let value = UInt64(digits), value > 0 else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected a size such as 512M or 4G")
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw PolicyError(.invalidValue, "\"\(text)\": too large") }
        return ByteSize(bytes: product)
    }

    public var description: String {
        for (unit, size) in [("T", UInt64(1) << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            self.bytes = number
            return
        }
        let text = try container.decode(String.self)
        do { self = try Self.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
