/// The stateless rules, each a pure function of what one request, connection or name shows.
/// The guard calls them on live traffic; `warden-admin explain` calls the same functions, so
/// what it says would fire is what fires. (The count and volume rules keep per-sandbox state
/// and live in the guard.)
public struct DetectionChecks: Sendable {
    public let policy: DetectionPolicy
    public let services: ExfilServices
    public let suffixes: PublicSuffixList
    let entropy: HighEntropyRuns

    public init(policy: DetectionPolicy, suffixes: PublicSuffixList) {
        self.policy = policy
        self.suffixes = suffixes
        services = ExfilServices(extra: policy.services)
        entropy = HighEntropyRuns(minimumRun: Int(policy.value(.entropyMinimumRun)), base64Threshold: policy.value(.base64Entropy),
                                  hexThreshold: policy.value(.hexEntropy))
    }

    /// Rule 4, on a query name, a server name, or a request's host and path.
    public func exfilService(host: String, path: String? = nil) -> DetectionFinding? {
        guard let entry = services.match(host: host, path: path) else { return nil }
        return DetectionFinding(.exfilService, "\(host.prefix(80)) is a paste, webhook, tunnel or out-of-band-testing service (\(entry))", evidence: "service=\(entry)")
    }

    /// Rule 6: a port not on the allowed list, unless a rule named it.
    public func uncommonPort(_ port: UInt16, namedByRule: Bool) -> DetectionFinding? {
        guard !namedByRule, !policy.allowedPorts.contains(port) else { return nil }
        return DetectionFinding(.uncommonPort, "port \(port) is not one of the usual ports (\(policy.allowedPorts.map(String.init).joined(separator: ", "))) and no rule names it",
                                evidence: "port=\(port)")
    }

    /// Whether a method writes. git's fetch (`POST …/git-upload-pack`) only reads.
    public static func isWrite(method: String, path: String) -> Bool {
        let upper = method.uppercased()
        guard ["POST", "PUT", "PATCH", "DELETE"].contains(upper) else { return false }
        let bare = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return !(upper == "POST" && bare.hasSuffix("/git-upload-pack"))
    }

    /// Rule 7: a write to a host not allowed to receive writes (no rule allows it writes, and it
    /// is not a push target).
    public func writeMethod(method: String, path: String, host: String?, writesAllowed: Bool) -> DetectionFinding? {
        guard Self.isWrite(method: method, path: path), !writesAllowed else { return nil }
        return DetectionFinding(.writeMethod, "\(method) to \(host ?? "an address") which no rule allows to receive writes",
                                evidence: "method=\(method)")
    }

    /// Rule 9 on bytes as sent and as decoded (percent, base64, hex, to depth 2).
    public func secretPattern(in bytes: UnsafeRawBufferPointer, place: String) -> DetectionFinding? {
        if let found = SecretPatterns.first(in: bytes) { return secretFinding(found.kind, place: place, encoding: "plain") }
        for layer in ContentDecoder.layers(bytes) {
            if let found = SecretPatterns.first(in: layer) { return secretFinding(found.kind, place: place, encoding: "encoded") }
        }
        return nil
    }

    public func secretPattern(in text: String, place: String) -> DetectionFinding? {
        Array(text.utf8).withUnsafeBytes { secretPattern(in: $0, place: place) }
    }

    private func secretFinding(_ kind: String, place: String, encoding: String) -> DetectionFinding {
        DetectionFinding(.secretPattern, "a credential shaped like \(kind) is in the \(place)\(encoding == "plain" ? "" : " (encoded)")",
                         evidence: "kind=\(kind); where=\(place); encoding=\(encoding)")
    }

    /// Rule 10 on a query string or a body.
    public func highEntropy(in bytes: UnsafeRawBufferPointer, place: String) -> DetectionFinding? {
        guard let found = entropy.first(in: bytes) else { return nil }
        let bits = (found.entropy * 100).rounded() / 100
        return DetectionFinding(.highEntropy, "a \(found.length)-character \(found.alphabet) run with \(bits) bits per character is in the \(place)",
                                evidence: "alphabet=\(found.alphabet); length=\(found.length); entropy=\(bits); where=\(place)")
    }

    public func highEntropy(in text: String, place: String) -> DetectionFinding? {
        Array(text.utf8).withUnsafeBytes { highEntropy(in: $0, place: place) }
    }

    /// The part of a name left of its registered domain ("" when none).
    public func subdomain(of name: String) -> (registered: String, subdomain: String) {
        var lower = name.lowercased()
        if lower.hasSuffix(".") { lower.removeLast() }
        guard let registered = suffixes.registeredDomain(of: lower) else { return (lower, "") }
        let sub = lower.count > registered.count ? String(lower.dropLast(registered.count + 1)) : ""
        return (registered, sub)
    }

    /// Rule 13: a long query name, or a long subdomain part.
    public func longName(_ name: String) -> DetectionFinding? {
        let (registered, sub) = subdomain(of: name)
        let limit = Int(policy.value(.longName)), subLimit = Int(policy.value(.longSubdomain))
        if name.count > limit {
            return DetectionFinding(.longName, "the DNS name is \(name.count) characters long (more than \(limit)) under \(registered)",
                                    evidence: "length=\(name.count); subdomain=\(sub.count); domain=\(registered)")
        }
        if sub.count >= subLimit {
            return DetectionFinding(.longName, "the subdomain part is \(sub.count) characters long (at least \(subLimit)) under \(registered)",
                                    evidence: "length=\(name.count); subdomain=\(sub.count); domain=\(registered)")
        }
        return nil
    }

    /// Rule 18: base64's `=` inside a DNS name (padding, `==.`, or dns2tcp's `=auth` labels;
    /// names show it escaped as `\061`), or data-shaped labels in a TLS server name.
    public func encodingMarker(_ name: String, serverName: Bool) -> DetectionFinding? {
        if name.contains("=") || name.contains("\\061") {
            let padding = name.contains("==.") || name.contains("\\061\\061.")
            return DetectionFinding(.encodingMarker, padding ? "the name carries base64 padding (==.), the mark of encoded data"
                                                             : "the name carries '=', base64's padding character, which no host name has",
                                    evidence: "marker=\(padding ? "padding" : "equals-sign")")
        }
        guard serverName else { return nil }
        let (_, sub) = subdomain(of: name)
        if let label = sub.split(separator: ".").first(where: { Self.isDataShaped($0) }) {
            return DetectionFinding(.encodingMarker, "the TLS server name has a data-shaped label (\(label.count) characters, \(Self.bits(label)) bits per character)",
                                    evidence: "label-length=\(label.count); entropy=\(Self.bits(label))")
        }
        return nil
    }

    /// A label that looks like encoded data rather than a name: long hex with entropy, or
    /// long and near-random.
    public static func isDataShaped(_ label: Substring) -> Bool {
        let bytes = Array(label.utf8)
        let entropy = ShannonEntropy.bitsPerSymbol(bytes)
        if bytes.count >= 16 && bytes.allSatisfy({ HighEntropyRuns.hexClass[Int($0)] }) && entropy > 3.0 { return true }
        return bytes.count >= 24 && entropy > 3.8
    }

    static func bits(_ label: Substring) -> Double {
        (ShannonEntropy.bitsPerSymbol(Array(label.utf8)) * 100).rounded() / 100
    }
}
