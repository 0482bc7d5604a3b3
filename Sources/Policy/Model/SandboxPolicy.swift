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
    /// Who may use each option that weakens a sandbox. Missing: admins only.
    public var weakening: [WeakeningOption: WeakeningGrant] = Dictionary(
        uniqueKeysWithValues: WeakeningOption.allCases.map { ($0, WeakeningGrant.adminsOnly) })

    public init() {}

    public func grant(for option: WeakeningOption) -> WeakeningGrant { weakening[option] ?? .adminsOnly }
}

/// Isolation layers a run may give up; the names `warden run --allow-degraded` takes.
public enum SandboxLayer: String, Codable, Sendable, CaseIterable, Comparable {
    case seccomp, landlock, cgroups, identity

    public static func < (a: SandboxLayer, b: SandboxLayer) -> Bool { a.rawValue < b.rawValue }
}

/// Options that weaken a sandbox; each use needs a grant and is recorded (R24).
public enum WeakeningOption: String, Codable, Sendable, CaseIterable, CodingKeyRepresentable, Comparable {
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
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text.uppercased())
        if digits.hasSuffix("IB") { digits = digits.dropLast(2) } else if digits.hasSuffix("B") { digits = digits.dropLast() }
        var multiplier: UInt64 = 1
        if let last = digits.last, let unit = units[last] {
            multiplier = unit
            digits = digits.dropLast()
        }
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
