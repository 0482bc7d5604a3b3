/// An IPv4 or IPv6 address as numbers, parsed without libc so evaluation stays pure. IPv6 is
/// two 64-bit halves, most significant first.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    /// Parses dotted IPv4 (exactly four decimal parts, no leading zeros: `010.0.0.1` is
    /// ambiguous between octal and decimal and is refused) or IPv6 text (with `::` and an
    /// optional trailing dotted IPv4).
    public init?(_ text: some StringProtocol) {
        if let v4 = Self.parseV4(Substring(text)) {
            self = .v4(v4)
        } else if let (high, low) = Self.parseV6(Substring(text)) {
            self = .v6(high: high, low: low)
        } else {
            return nil
        }
    }

    static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.count == 1 || part.utf8.first != 0x30, let octet = UInt32(part), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseV6(_ text: Substring) -> (UInt64, UInt64)? {
        guard text.contains(":"), text.utf8.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var halves: [Substring] = [text]
        let bytes = Array(text.utf8)
        if let gap = (0..<max(0, bytes.count - 1)).first(where: { bytes[$0] == 0x3A && bytes[$0 + 1] == 0x3A }) {
            let head = text.utf8.index(text.utf8.startIndex, offsetBy: gap)
            let rest = text.utf8.index(head, offsetBy: 2)
            halves = [Substring(text[..<head]), Substring(text[rest...])]
            guard !halves[1].contains("::") else { return nil }
        }
        func parseGroups(_ part: Substring, into result: inout [UInt16], allowV4: Bool) -> Bool {
            if part.isEmpty { return true }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowV4, index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return false }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xFFFF))
                    continue
                }
                guard !piece.isEmpty, piece.count <= 4, let group = UInt16(piece, radix: 16) else { return false }
                result.append(group)
            }
            return true
        }
        if halves.count == 2 {
            sawGap = true
            guard parseGroups(halves[0], into: &groups, allowV4: false),
                  parseGroups(halves[1], into: &tail, allowV4: true) else { return nil }
            guard groups.count + tail.count <= 7 else { return nil }
        } else {
            guard parseGroups(text, into: &groups, allowV4: true), groups.count == 8 else { return nil }
        }
        if sawGap { groups += Array(repeating: 0, count: 8 - groups.count - tail.count) + tail }
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0..<4 { high = high << 16 | UInt64(groups[index]) }
        for index in 4..<8 { low = low << 16 | UInt64(groups[index]) }
        return (high, low)
    }

    /// The IPv4 address an IPv6 form carries: IPv4-mapped ::ffff:a.b.c.d, SIIT
    /// ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96, IPv4-compatible ::a.b.c.d and 6to4 2002:AABB:CCDD::.
    /// Policy judges these as the IPv4 address they reach.
    public var embeddedV4: UInt32? {
        guard case let .v6(high, low) = self else { return nil }
        if high == 0, low >> 32 == 0xFFFF || low >> 32 == 0xFFFF_0000 { return UInt32(truncatingIfNeeded: low) }
        if high == 0x0064_FF9B_0000_0000, low >> 32 == 0 { return UInt32(truncatingIfNeeded: low) }
        if high == 0, low >> 32 == 0, low > 1 { return UInt32(truncatingIfNeeded: low) }
        if high >> 48 == 0x2002 { return UInt32(truncatingIfNeeded: high >> 16) }
        return nil
    }

    /// The 96-bit prefixes whose last 32 bits are an IPv4 address (for CIDR rules).
    var isEmbeddingPrefix: Bool {
        guard case let .v6(high, low) = self else { return false }
        return (high == 0 && (low >> 32 == 0xFFFF || low >> 32 == 0xFFFF_0000)) || (high == 0x0064_FF9B_0000_0000 && low >> 32 == 0)
    }

    /// IPv4 forms folded to `.v4`, so one rule set judges both spellings of one destination.
    public var canonical: IPAddress { embeddedV4.map(IPAddress.v4) ?? self }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case let .v6(high, low):
            let groups = (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * $0)) }
                + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * $0)) }
            // The longest run of zero groups (at least two) becomes "::" (RFC 5952).
            var best = (start: -1, length: 0)
            var index = 0
            while index < 8 {
                guard groups[index] == 0 else { index += 1; continue }
                let start = index
                while index < 8 && groups[index] == 0 { index += 1 }
                if index - start > best.length && index - start >= 2 { best = (start, index - start) }
            }
            func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
            guard best.start >= 0 else { return hex(0..<8) }
            return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
        }
    }
}
