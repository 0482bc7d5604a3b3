/// One allow or deny rule on egress. A rule names a destination (domain pattern or network),
/// optionally ports and, for allow rules, the HTTP methods it permits.
public struct NetworkRule: Codable, Sendable, Equatable, Hashable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        case allow, deny
    }

    public enum Destination: Sendable, Hashable, CustomStringConvertible {
        case domain(DomainPattern)
        case network(CIDR)

        public var description: String {
            switch self {
            case .domain(let pattern): return pattern.description
            case .network(let cidr): return cidr.description
            }
        }

        /// A network (CIDR or bare address) or a domain pattern, as rules are written.
        public static func parse(_ text: String, forAllow: Bool) throws(PolicyError) -> Destination {
            if text.contains("/") || IPAddress(text) != nil { return .network(try CIDR.parse(text)) }
            return .domain(try DomainPattern.parse(text, forAllow: forAllow))
        }
    }

    /// Stable name: `history`, `explain` and removal use it.
    public var id: String
    public var action: Action
    public var destination: Destination
    /// Empty: any port.
    public var ports: [PortRange]
    /// Upper-case methods this allow rule permits; nil: any. Deny rules ignore it.
    public var methods: [String]?
    /// Permits POST to `…/git-upload-pack` on a rule restricted to read-only methods: git
    /// fetch over HTTP uses POST to read.
    public var gitFetch: Bool
    /// The preset that added the rule, if any.
    public var preset: String?

    public init(id: String, action: Action, destination: Destination, ports: [PortRange] = [], methods: [String]? = nil,
                gitFetch: Bool = false, preset: String? = nil) {
        self.id = id
        self.action = action
        self.destination = destination
        self.ports = ports
        self.methods = methods
        self.gitFetch = gitFetch
        self.preset = preset
    }

    /// The id a rule gets when its writer gave none: readable and deterministic.
    public static func defaultID(action: Action, destination: Destination, ports: [PortRange]) -> String {
        let portText = ports.isEmpty ? "" : ":" + ports.map(\.description).joined(separator: ",")
        return "\(action.rawValue):\(destination)\(portText)"
    }

    /// Methods an HTTP request may carry; anything else in a rule is a typo.
    public static let knownMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "TRACE"]
    public static let readOnlyMethods = ["GET", "HEAD", "OPTIONS"]

    public func allowsPort(_ port: UInt16) -> Bool {
        ports.isEmpty || ports.contains { $0.contains(port) }
    }

    /// Whether this allow rule permits `method` (nil: not HTTP, or not yet known) on `path`.
    public func allowsMethod(_ method: String?, path: String?) -> Bool {
        guard let methods, let method else { return true }
        if methods.contains(method) { return true }
        guard method == "POST", let path else { return false }
        let route = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        if gitFetch && route.hasSuffix("/git-upload-pack") { return true }
        return isReadOnly && Self.npmAuditRoutes.contains(route)
    }

    /// Restricted to reads (GET, HEAD, OPTIONS or fewer).
    public var isReadOnly: Bool {
        guard let methods else { return false }
        return methods.allSatisfy { Self.readOnlyMethods.contains($0) }
    }

    /// `npm audit` asks the registry with a POST of the dependency tree: a read of the
    /// advisories, which read-only registry rules let through.
    public static let npmAuditRoutes: Set<String> = [
        "/-/npm/v1/security/audits", "/-/npm/v1/security/audits/quick", "/-/npm/v1/security/advisories/bulk",
    ]

    // Stored and exported as plain fields: `domain` or `cidr`.
    enum CodingKeys: String, CodingKey {
        case id, action, domain, cidr, ports, methods, gitFetch, preset
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        action = try container.decode(Action.self, forKey: .action)
        let domain = try container.decodeIfPresent(String.self, forKey: .domain)
        let cidr = domain == nil ? try container.decode(String.self, forKey: .cidr) : ""
        do throws(PolicyError) {
            if let domain {
                destination = .domain(try DomainPattern.parse(domain, forAllow: false))
            } else {
                destination = .network(try CIDR.parse(cidr))
            }
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
        ports = try container.decodeIfPresent([PortRange].self, forKey: .ports) ?? []
        methods = try container.decodeIfPresent([String].self, forKey: .methods)
        gitFetch = try container.decodeIfPresent(Bool.self, forKey: .gitFetch) ?? false
        preset = try container.decodeIfPresent(String.self, forKey: .preset)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(action, forKey: .action)
        switch destination {
        case .domain(let pattern): try container.encode(pattern.description, forKey: .domain)
        case .network(let cidr): try container.encode(cidr.description, forKey: .cidr)
        }
        if !ports.isEmpty { try container.encode(ports, forKey: .ports) }
        try container.encodeIfPresent(methods, forKey: .methods)
        if gitFetch { try container.encode(gitFetch, forKey: .gitFetch) }
        try container.encodeIfPresent(preset, forKey: .preset)
    }

    /// One line for tables and history.
    public var summary: String {
        var text = "\(action.rawValue) \(destination)"
        if !ports.isEmpty { text += " ports " + ports.map(\.description).joined(separator: ",") }
        if let methods { text += " methods " + methods.joined(separator: ",") }
        if gitFetch { text += " +git-fetch" }
        if let preset { text += " (preset \(preset))" }
        return text
    }
}

/// A port or an inclusive range of ports: `443`, `8000-8999`.
public struct PortRange: Codable, Sendable, Hashable, CustomStringConvertible {
    public var lower: UInt16
    public var upper: UInt16

    public init(_ lower: UInt16, _ upper: UInt16? = nil) {
        self.lower = lower
        self.upper = upper ?? lower
    }

    public static func parse(_ text: String) throws(PolicyError) -> PortRange {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let lower = UInt16(parts[0]), lower > 0 else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected a port 1-65535 or a range such as 8000-8999")
        }
        guard parts.count == 2 else { return PortRange(lower) }
        guard let upper = UInt16(parts[1]), upper >= lower else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected a range LOW-HIGH with LOW <= HIGH <= 65535")
        }
        return PortRange(lower, upper)
    }

    public func contains(_ port: UInt16) -> Bool { port >= lower && port <= upper }

    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try (try? container.decode(UInt16.self)).map(String.init) ?? container.decode(String.self)
        do { self = try Self.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if lower == upper { try container.encode(lower) } else { try container.encode(description) }
    }
}

/// The network half of the org policy.
public struct NetworkPolicy: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// No network at all.
        case none
        /// Only allowed destinations; deny rules and detection actions apply.
        case allowlist
        /// Any public destination; deny rules and detection actions still apply.
        case monitor
        /// Nothing blocked by rules (what they would have done is recorded).
        case open
    }

    public var mode: Mode = .allowlist
    public var rules: [NetworkRule] = []
    /// Whether a repository's own `egressAllowlist` may add destinations (otherwise it can
    /// only narrow what the org allows).
    public var repositoryMayWiden = false
    /// Where guards forward allowed DNS queries (`ADDRESS[:PORT]`); nil: the host's resolver.
    /// `warden run --dns-upstream` overrides it for one run.
    public var dnsUpstream: String?
    /// TLS inspection: on by default, with the admin's exclusions and extra upstream CAs.
    public var tls = TLSInspectionPolicy()
    /// Exfiltration detection: rule actions, thresholds, push targets (#7, DETECTION.md).
    public var detection = DetectionPolicy()

    public init() {}

    enum CodingKeys: String, CodingKey { case mode, rules, repositoryMayWiden, dnsUpstream, tls, detection }

    /// Policies stored before TLS inspection or detection existed decode with their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mode = try container.decode(Mode.self, forKey: .mode)
        rules = try container.decode([NetworkRule].self, forKey: .rules)
        repositoryMayWiden = try container.decode(Bool.self, forKey: .repositoryMayWiden)
        dnsUpstream = try container.decodeIfPresent(String.self, forKey: .dnsUpstream)
        tls = try container.decodeIfPresent(TLSInspectionPolicy.self, forKey: .tls) ?? TLSInspectionPolicy()
        detection = try container.decodeIfPresent(DetectionPolicy.self, forKey: .detection) ?? DetectionPolicy()
    }
}
