/// A length of time written the way people write it: `90d`, `3d12h`, `45m`, `1w`.
public struct PolicyDuration: Codable, Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64

    public init(seconds: Int64) {
        self.seconds = seconds
    }

    private static let units: [(Character, Int64)] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
    /// Ten years: nothing Warden keeps needs longer, and the bound keeps arithmetic safe.
    public static let maximum = PolicyDuration(seconds: 10 * 366 * 86_400)

    public static func parse(_ text: String) throws(PolicyError) -> PolicyDuration {
        let expected = "expected a duration such as 3d, 12h, 90d or 1w2d (units w, d, h, m, s)"
        var total: Int64 = 0
        var digits: Int64? = nil
        var sawUnit = false
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let (shifted, overflow) = (digits ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow, shifted <= PolicyDuration.maximum.seconds else { throw PolicyError(.invalidValue, "\"\(text)\": too long; at most 10 years") }
                digits = shifted + Int64(digit)
            } else if let unit = units.first(where: { $0.0 == character }), let value = digits {
                let (part, overflow) = value.multipliedReportingOverflow(by: unit.1)
                guard !overflow else { throw PolicyError(.invalidValue, "\"\(text)\": too long; at most 10 years") }
                total += part
                digits = nil
                sawUnit = true
                guard total <= PolicyDuration.maximum.seconds else { throw PolicyError(.invalidValue, "\"\(text)\": too long; at most 10 years") }
            } else {
                throw PolicyError(.invalidValue, "\"\(text)\": \(expected)")
            }
        }
        guard sawUnit, digits == nil, total > 0 else { throw PolicyError(.invalidValue, "\"\(text)\": \(expected)") }
        return PolicyDuration(seconds: total)
    }

    /// The canonical spelling in days and smaller, largest first: 3d, 90d, 36h → 1d12h.
    public var description: String {
        var rest = seconds
        var text = ""
        for (unit, size) in Self.units.dropFirst() where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text.isEmpty ? "0s" : text
    }

    public static func < (a: PolicyDuration, b: PolicyDuration) -> Bool { a.seconds < b.seconds }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Self.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
