/// How bad a detection flag is.
public enum DetectionSeverity: String, Codable, Sendable, CaseIterable, Comparable {
    case low, medium, high, critical

    private var rank: Int {
        switch self {
        case .low: return 0
        case .medium: return 1
        case .high: return 2
        case .critical: return 3
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// What the guard does when a rule fires. In network mode `open` every action is carried out
/// as `record` (open blocks nothing; what the action would have done is in the record).
public enum DetectionAction: String, Codable, Sendable, CaseIterable {
    /// A flag in the audit log; the traffic goes on.
    case record
    /// The flag, and the connection, request or query is refused.
    case block
    /// The flag, the traffic refused, and the whole sandbox (run or agent) stopped.
    case stop
}

/// The exfiltration rules of DETECTION.md, numbered as there. Rules 1–3 restate refusals the
/// policy makes anyway (destination, address class, name binding): their flag marks the
/// attempt, and their action can only be `block` or `stop`, never weaken the refusal.
public enum DetectionRule: Int, CaseIterable, Sendable, Comparable {
    case destinationNotAllowed = 1
    case internalAddress
    case hostMismatch
    case exfilService
    case rawAddress
    case uncommonPort
    case writeMethod
    case plantedValue
    case secretPattern
    case highEntropy
    case uploadVolume
    case uploadAsymmetry
    case longName
    case subdomainCount
    case tunnelRecordType
    case largeAnswer
    case dnsVolume
    case encodingMarker
    case nxdomainBurst

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The name used in settings, audit records and `warden audit summary`.
    public var id: String {
        switch self {
        case .destinationNotAllowed: return "destination-not-allowed"
        case .internalAddress: return "internal-address"
        case .hostMismatch: return "host-mismatch"
        case .exfilService: return "exfil-service"
        case .rawAddress: return "raw-address"
        case .uncommonPort: return "uncommon-port"
        case .writeMethod: return "write-method"
        case .plantedValue: return "planted-value"
        case .secretPattern: return "secret-pattern"
        case .highEntropy: return "high-entropy"
        case .uploadVolume: return "upload-volume"
        case .uploadAsymmetry: return "upload-asymmetry"
        case .longName: return "dns-long-name"
        case .subdomainCount: return "dns-subdomains"
        case .tunnelRecordType: return "dns-tunnel-type"
        case .largeAnswer: return "dns-large-answer"
        case .dnsVolume: return "dns-volume"
        case .encodingMarker: return "encoding-marker"
        case .nxdomainBurst: return "nxdomain-burst"
        }
    }

    /// What the audit record's rule column says: `exfil.<n>.<id>`.
    public var recordName: String { "exfil.\(rawValue).\(id)" }

    public init?(id: String) {
        guard let rule = Self.allCases.first(where: { $0.id == id || "\($0.rawValue)" == id || $0.recordName == id }) else { return nil }
        self = rule
    }

    public var title: String {
        switch self {
        case .destinationNotAllowed: return "destination not allowed by policy"
        case .internalAddress: return "name resolves to loopback, link-local, private or cloud metadata"
        case .hostMismatch: return "TLS SNI, HTTP Host and original destination disagree (domain fronting)"
        case .exfilService: return "paste, webhook, tunnel or out-of-band-testing service"
        case .rawAddress: return "raw IP destination not produced by an allowed DNS answer"
        case .uncommonPort: return "port other than the allowed ones (80, 443)"
        case .writeMethod: return "write method to a host not allowed to receive writes"
        case .plantedValue: return "a canary credential, or a secret given to the run, in outbound data to a host not meant to receive it"
        case .secretPattern: return "secret pattern (AWS, GitHub, PEM key, Anthropic, OpenAI, npm, PyPI, Slack) in URL, headers or body"
        case .highEntropy: return "high-entropy run in query string or body"
        case .uploadVolume: return "upload volume per connection"
        case .uploadAsymmetry: return "upload/download asymmetry to a host not expected to receive pushes"
        case .longName: return "long DNS name"
        case .subdomainCount: return "many unique data-shaped subdomains of one registered domain"
        case .tunnelRecordType: return "DNS record type NULL or 65399"
        case .largeAnswer: return "large TXT answer or DNS message"
        case .dnsVolume: return "DNS information volume"
        case .encodingMarker: return "encoding markers in a DNS name or data-shaped labels in SNI"
        case .nxdomainBurst: return "burst of NXDOMAIN answers"
        }
    }

    /// DETECTION.md's default action.
    public var defaultAction: DetectionAction {
        switch self {
        case .destinationNotAllowed, .internalAddress, .hostMismatch, .rawAddress, .plantedValue, .secretPattern, .tunnelRecordType:
            return .block
        default:
            return .record
        }
    }

    /// The severity of a flag (count rules may raise it as counts grow).
    public var severity: DetectionSeverity {
        switch self {
        case .plantedValue: return .critical
        case .destinationNotAllowed, .internalAddress, .hostMismatch, .exfilService, .rawAddress, .secretPattern, .tunnelRecordType: return .high
        case .uncommonPort, .longName, .nxdomainBurst: return .low
        default: return .medium
        }
    }

    /// Whether the rule restates a refusal the policy makes anyway (its action cannot be `record`).
    public var policyRefusal: Bool { rawValue <= 3 }

    /// Rules DETECTION.md calls deterministic (no threshold to tune): 1–9.
    public var deterministic: Bool { rawValue <= 9 }
}
