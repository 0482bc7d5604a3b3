/// The figures detection rules compare against, with DETECTION.md's values as defaults. Each is
/// a policy setting (`detection.threshold.NAME`); the few that are Warden's own (not in
/// DETECTION.md) say why in their help.
public enum DetectionThreshold: String, CaseIterable, Sendable {
    case entropyMinimumRun
    case base64Entropy
    case hexEntropy
    case scanBytes
    case uploadFlagBytes
    case uploadHighBytes
    case asymmetryRatio
    case asymmetryMinimumBytes
    case longName
    case longSubdomain
    case countedSubdomainLength
    case subdomainsPerHour
    case tunnelLongLength
    case tunnelLongNames
    case tunnelQueries
    case subdomainsCritical
    case txtAnswerLength
    case dnsMessageBytes
    case dnsVolumeCharacters
    case domainBytesPerDay
    case nxdomainBurst
    case nxdomainWindowSeconds

    public var defaultValue: Double {
        switch self {
        case .entropyMinimumRun: return 20
        case .base64Entropy: return 4.5
        case .hexEntropy: return 3.0
        case .scanBytes: return 1_048_576
        case .uploadFlagBytes: return 1_000_000
        case .uploadHighBytes: return 20_000_000
        case .asymmetryRatio: return 0.4
        case .asymmetryMinimumBytes: return 65_536
        case .longName: return 52
        case .longSubdomain: return 50
        case .countedSubdomainLength: return 12
        case .subdomainsPerHour: return 8
        case .tunnelLongLength: return 24
        case .tunnelLongNames: return 15
        case .tunnelQueries: return 25
        case .subdomainsCritical: return 100
        case .txtAnswerLength: return 100
        case .dnsMessageBytes: return 544
        case .dnsVolumeCharacters: return 10_000
        case .domainBytesPerDay: return 4_096
        case .nxdomainBurst: return 50
        case .nxdomainWindowSeconds: return 60
        }
    }

    /// The rule that reads the figure.
    public var rule: DetectionRule {
        switch self {
        case .entropyMinimumRun, .base64Entropy, .hexEntropy: return .highEntropy
        case .scanBytes: return .secretPattern
        case .uploadFlagBytes, .uploadHighBytes: return .uploadVolume
        case .asymmetryRatio, .asymmetryMinimumBytes: return .uploadAsymmetry
        case .longName, .longSubdomain: return .longName
        case .countedSubdomainLength, .subdomainsPerHour, .tunnelLongLength, .tunnelLongNames, .tunnelQueries, .subdomainsCritical: return .subdomainCount
        case .txtAnswerLength, .dnsMessageBytes: return .largeAnswer
        case .dnsVolumeCharacters, .domainBytesPerDay: return .dnsVolume
        case .nxdomainBurst, .nxdomainWindowSeconds: return .nxdomainBurst
        }
    }

    public var help: String {
        switch self {
        case .entropyMinimumRun: return "shortest run of base64/hex characters judged by entropy"
        case .base64Entropy: return "bits per character above which a base64 run is flagged"
        case .hexEntropy: return "bits per character above which a hex run is flagged"
        case .scanBytes: return "body bytes per request read by the pattern and entropy rules (Warden's: bounds the work per request; planted values are looked for in every byte)"
        case .uploadFlagBytes: return "bytes sent on one connection that raise a flag"
        case .uploadHighBytes: return "bytes sent on one connection that raise a high flag"
        case .asymmetryRatio: return "producer-consumer ratio (out-in)/(out+in) above which an upload is flagged"
        case .asymmetryMinimumBytes: return "bytes sent before the ratio is judged (Warden's: small requests have meaningless ratios)"
        case .longName: return "DNS query names longer than this are flagged"
        case .longSubdomain: return "subdomain parts at least this long are flagged"
        case .countedSubdomainLength: return "subdomain parts shorter than this are not counted (Warden's: CDN and object-store names are short)"
        case .subdomainsPerHour: return "unique counted subdomains of one registered domain per hour above which it is flagged"
        case .tunnelLongLength: return "subdomain length that makes a name long for the tunnel count"
        case .tunnelLongNames: return "long unique names of one registered domain within 5 minutes (with tunnelQueries) for a high flag"
        case .tunnelQueries: return "queries to one registered domain within 5 minutes (with tunnelLongNames) for a high flag"
        case .subdomainsCritical: return "unique counted subdomains of one registered domain per hour above which the flag is critical"
        case .txtAnswerLength: return "TXT answers longer than this are flagged"
        case .dnsMessageBytes: return "DNS answers larger than this are flagged"
        case .dnsVolumeCharacters: return "characters of distinct queries and answers per sandbox above which it is flagged"
        case .domainBytesPerDay: return "bytes of information in query names per registered domain per day above which it is flagged"
        case .nxdomainBurst: return "NXDOMAIN answers within the window above which it is flagged"
        case .nxdomainWindowSeconds: return "the NXDOMAIN window, in seconds"
        }
    }

    /// Values a threshold may take: positive, ratios at most 1, entropies at most 8 bits.
    public func check(_ value: Double) throws(PolicyError) {
        guard value.isFinite, value > 0 else { throw PolicyError(.invalidValue, "\"\(value)\": \(rawValue) must be a positive number") }
        // The guard compares byte and name counts as integers.
        guard value <= 1e15 else { throw PolicyError(.invalidValue, "\"\(value)\": \(rawValue) is at most 1e15") }
        if self == .nxdomainWindowSeconds, value > 86_400 { throw PolicyError(.invalidValue, "\"\(value)\": nxdomainWindowSeconds is at most 86400 (a day)") }
        if self == .asymmetryRatio, value > 1 { throw PolicyError(.invalidValue, "\"\(value)\": asymmetryRatio is at most 1") }
        if self == .base64Entropy || self == .hexEntropy, value > 8 { throw PolicyError(.invalidValue, "\"\(value)\": \(rawValue) is at most 8 bits per character") }
    }
}
