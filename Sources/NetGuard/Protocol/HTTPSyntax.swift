extension HTTPRequestParser {
    /// Byte classes from RFC 9110 §5.6 shared by the request and chunked-body readers.
    enum Syntax {
        static let cr: UInt8 = 0x0d
        static let lf: UInt8 = 0x0a
        static let space: UInt8 = 0x20
        static let tab: UInt8 = 0x09
        static let colon: UInt8 = 0x3a

        /// tchar: the characters of a token (method, field name).
        static func isTChar(_ byte: UInt8) -> Bool {
            switch byte {
            case 0x30...0x39, 0x41...0x5a, 0x61...0x7a: return true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"),
                UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default: return false
            }
        }

        /// C0 controls and DEL.
        static func isControl(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7f }

        static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

        static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

        /// The value of a hex digit, or nil.
        static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: return byte - 0x30
            case 0x41...0x46: return byte - 0x41 + 10
            case 0x61...0x66: return byte - 0x61 + 10
            default: return nil
            }
        }

        /// ASCII-only lowercasing, so comparisons never depend on Unicode case rules.
        static func lowercased(_ text: String) -> String {
            String(decoding: text.utf8.map { (0x41...0x5a).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
        }

        static func trimmingWhitespace<C: BidirectionalCollection>(_ bytes: C) -> C.SubSequence
        where C.Element == UInt8 {
            let start = bytes.firstIndex { !isWhitespace($0) } ?? bytes.endIndex
            let end = bytes.lastIndex { !isWhitespace($0) }.map { bytes.index(after: $0) } ?? start
            return bytes[start..<max(start, end)]
        }
    }
}
