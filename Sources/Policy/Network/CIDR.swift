/// A network prefix: `10.0.0.0/8`, `fd00::/8`, or a single address (`/32`, `/128`).
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefix: Int

    public init(address: IPAddress, prefix: Int) {
        self.prefix = prefix
        self.address = Self.masked(address, prefix)
    }

    /// Parses `ADDR/LEN` or a bare address. Host bits must be zero (`10.0.0.1/8` is refused:
    /// the writer probably meant something else).
    public static func parse(_ text: String) throws(PolicyError) -> CIDR {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected an IPv4 or IPv6 address or network such as 10.0.0.0/8 or fd00::/8")
        }
        let width = address.width
        var prefix = width
        if parts.count == 2 {
            guard let value = Int(parts[1]), value >= 0, value <= width, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw PolicyError(.invalidValue, "\"\(text)\": the prefix length must be 0-\(width)")
            }
            prefix = value
        }
        let cidr = CIDR(address: address, prefix: prefix)
        guard cidr.address == address else {
            throw PolicyError(.invalidValue, "\"\(text)\": host bits are set; did you mean \(cidr)?")
        }
        // An IPv6 spelling of IPv4 networks (::ffff:a.b.c.d/120, 64:ff9b::/96) is the IPv4
        // network: addresses are judged in their IPv4 form, so the rule must be too.
        if prefix >= 96, address.embeddedV4 != nil || address.isEmbeddingPrefix, case let .v6(_, low) = address {
            return CIDR(address: .v4(UInt32(truncatingIfNeeded: low)), prefix: prefix - 96)
        }
        return cidr
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4, .v4), (.v6, .v6): return Self.masked(candidate, prefix) == address
        default: return false
        }
    }

    static func masked(_ address: IPAddress, _ prefix: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            return .v4(prefix == 0 ? 0 : value & ~UInt32(0) << (32 - prefix))
        case let .v6(high, low):
            if prefix == 0 { return .v6(high: 0, low: 0) }
            if prefix <= 64 { return .v6(high: high & ~UInt64(0) << (64 - prefix), low: 0) }
            if prefix == 128 { return address }
            return .v6(high: high, low: low & ~UInt64(0) << (128 - prefix))
        }
    }

    public var description: String {
        prefix == address.width ? address.description : "\(address)/\(prefix)"
    }
}

extension IPAddress {
    /// 32 or 128.
    public var width: Int {
        if case .v4 = self { return 32 }
        return 128
    }
}
