/// An IP address and a port as people write them: `ADDRESS`, `ADDRESS:PORT` or `[V6]:PORT`.
/// Used for the DNS upstream a guard forwards allowed queries to (policy and command line).
public struct IPEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    public static func parse(_ text: String, defaultPort: UInt16) -> IPEndpoint? {
        if let address = IPAddress(text) { return IPEndpoint(address, defaultPort) }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            guard let address = IPAddress(text[text.index(after: text.startIndex)..<close]) else { return nil }
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return IPEndpoint(address, defaultPort) }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()), port > 0 else { return nil }
            return IPEndpoint(address, port)
        }
        guard let colon = text.lastIndex(of: ":"), let address = IPAddress(text[..<colon]),
              let port = UInt16(text[text.index(after: colon)...]), port > 0 else { return nil }
        return IPEndpoint(address, port)
    }

    public var description: String {
        if case .v6 = address { return "[\(address)]:\(port)" }
        return "\(address):\(port)"
    }

    /// The value of `network.dnsUpstream`: "none" (the host's resolver) or an endpoint.
    public static func parseUpstream(_ text: String) throws(PolicyError) -> String? {
        if text == "none" || text.isEmpty { return nil }
        guard let endpoint = parse(text, defaultPort: 53) else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected an IP address, ADDRESS:PORT, [V6]:PORT or none")
        }
        return endpoint.description
    }
}
