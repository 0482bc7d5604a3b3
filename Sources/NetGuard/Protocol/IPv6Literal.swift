extension HTTPRequestParser {
    /// Textual IPv6 addresses (RFC 4291 §2.2), as they appear between brackets in a URI.
    ///
    /// Zone identifiers and IPvFuture forms are refused: they name interface-local or unknown
    /// destinations that policy cannot judge.
    enum IPv6Literal {
        static func isValid(_ text: ArraySlice<UInt8>) -> Bool {
            let bytes = Array(text)
            guard !bytes.isEmpty, bytes.count <= 45 else { return false }
            let doubleColon = firstDoubleColon(bytes)
            if let doubleColon {
                let tail = Array(bytes[(doubleColon + 2)...])
                guard firstDoubleColon(tail) == nil else { return false }
                guard let head = groups(Array(bytes[..<doubleColon]), mayEndInIPv4: false),
                    let rest = groups(tail, mayEndInIPv4: true)
                else { return false }
                return head + rest <= 7
            }
            return groups(bytes, mayEndInIPv4: true) == 8
        }

        private static func firstDoubleColon(_ bytes: [UInt8]) -> Int? {
            guard bytes.count >= 2 else { return nil }
            let colon = UInt8(ascii: ":")
            return (0..<(bytes.count - 1)).first { bytes[$0] == colon && bytes[$0 + 1] == colon }
        }

        /// How many 16-bit groups `bytes` spells (an embedded IPv4 counts two); nil when invalid.
        private static func groups(_ bytes: [UInt8], mayEndInIPv4: Bool) -> Int? {
            if bytes.isEmpty { return 0 }
            let pieces = bytes.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            var count = 0
            for (index, piece) in pieces.enumerated() {
                if mayEndInIPv4, index == pieces.count - 1, piece.contains(UInt8(ascii: ".")) {
                    guard isDottedQuad(piece) else { return nil }
                    count += 2
                    continue
                }
                guard (1...4).contains(piece.count),
                    piece.allSatisfy({ HTTPRequestParser.Syntax.hexValue($0) != nil })
                else { return nil }
                count += 1
            }
            return count
        }

        private static func isDottedQuad(_ piece: ArraySlice<UInt8>) -> Bool {
            let octets = piece.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            return octets.count == 4
                && octets.allSatisfy { octet in
                    (1...3).contains(octet.count) && octet.allSatisfy(HTTPRequestParser.Syntax.isDigit)
                        && (octet.count == 1 || octet.first != UInt8(ascii: "0"))
                        && octet.reduce(0) { $0 * 10 + Int($1 - 0x30) } <= 255
                }
        }
    }
}
