/// How the guard treats TLS (R22): by default it terminates every allowed connection with a
/// certificate from the sandbox's own CA, so that method, path, Host and body rules judge
/// HTTPS exactly as they judge plain HTTP. Destinations that pin their certificate or ask for
/// a client certificate cannot be inspected; the admin lists them in `exclude`, and only they
/// are tunnelled opaquely (in allowlist mode, an opaque tunnel anywhere else is refused).
public struct TLSInspectionPolicy: Codable, Sendable, Equatable {
    /// Off: TLS is judged by its server name alone, as before inspection existed.
    public var inspect = true
    /// Destinations tunnelled without inspection: domain patterns (`*.pinned.example`) or
    /// networks (`10.1.0.0/16`), as rules write them.
    public var exclude: [String] = []
    /// PEM files of CAs trusted for upstream certificates besides the host's system store
    /// (a corporate CA; tests name a test CA). Absolute paths, read when a sandbox starts.
    public var trustedCAs: [String] = []

    public init() {}

    enum CodingKeys: String, CodingKey { case inspect, exclude, trustedCAs }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inspect = try container.decodeIfPresent(Bool.self, forKey: .inspect) ?? true
        exclude = try container.decodeIfPresent([String].self, forKey: .exclude) ?? []
        trustedCAs = try container.decodeIfPresent([String].self, forKey: .trustedCAs) ?? []
    }

    /// The exclusion list, parsed (an entry that does not parse was refused when it was set).
    public var exclusions: [NetworkRule.Destination] {
        exclude.compactMap { try? NetworkRule.Destination.parse($0, forAllow: false) }
    }

    /// Checks every entry: a destination each, CA files as absolute paths.
    public static func checkExclusions(_ entries: [String]) throws(PolicyError) {
        for entry in entries {
            do {
                _ = try NetworkRule.Destination.parse(entry, forAllow: false)
            } catch {
                throw PolicyError(.invalidValue, "\"\(entry)\": expected a domain pattern or a network to tunnel without inspection")
            }
        }
    }

    public static func checkTrustedCAs(_ paths: [String]) throws(PolicyError) {
        for path in paths where !path.hasPrefix("/") || path.contains("\n") {
            throw PolicyError(.invalidValue, "\"\(path)\": a trusted CA is an absolute path to a PEM file")
        }
    }
}

/// What the guard does with one TLS connection it allowed.
public enum TLSTreatment: String, Sendable {
    /// Terminated with a minted leaf; every request inside judged.
    case inspect
    /// On the exclusion list: tunnelled opaquely, recorded as such.
    case excluded
    /// Inspection is off in the policy: judged by server name alone.
    case notInspected = "not-inspected"
}

extension TLSInspectionPolicy {
    /// The treatment of a connection to `host` (the name it was judged by, if any) at `address`.
    public func treatment(host: String?, address: IPAddress, exclusions: [NetworkRule.Destination]) -> TLSTreatment {
        guard inspect else { return .notInspected }
        for exclusion in exclusions {
            switch exclusion {
            case .domain(let pattern):
                if let host, pattern.matches(host) { return .excluded }
            case .network(let cidr):
                if cidr.contains(address) { return .excluded }
            }
        }
        return .inspect
    }
}
