extension HTTPRequestParser {
    /// `host[:port]` from a Host header or a request-target (RFC 9110 §7.2, RFC 3986 §3.2.2),
    /// restricted to spellings every resolver and URL parser reads the same way: DNS-style names,
    /// canonical dotted-quad IPv4 and bracketed IPv6. Anything else could reach a different host
    /// than the one policy matched, so it is refused.
    struct Authority: Equatable {
        /// Lowercased; an IPv6 literal without brackets.
        var host: String
        var port: UInt16?

        static func parse(_ text: String, requirePort: Bool) throws(HTTPFramingError) -> Authority {
            let bytes = Array(text.utf8)
            guard !bytes.isEmpty else { throw invalid("empty host") }
            guard !bytes.contains(UInt8(ascii: "@")) else { throw invalid("userinfo ('@') in host") }
            let host: ArraySlice<UInt8>
            let portText: ArraySlice<UInt8>?
            if bytes[0] == UInt8(ascii: "[") {
                guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { throw invalid("unclosed '[' in host") }
                host = bytes[1..<close]
                let after = bytes[(close + 1)...]
                if after.isEmpty {
                    portText = nil
                } else if after.first == UInt8(ascii: ":") {
                    portText = after.dropFirst()
                } else {
                    throw invalid("bytes after ']' in host")
                }
                guard IPv6Literal.isValid(host) else { throw invalid("host is not a valid IPv6 literal") }
            } else {
                let colons = bytes.indices.filter { bytes[$0] == UInt8(ascii: ":") }
                guard colons.count <= 1 else { throw invalid("more than one ':' in host (IPv6 needs brackets)") }
                if let colon = colons.first {
                    host = bytes[..<colon]
                    portText = bytes[(colon + 1)...]
                } else {
                    host = bytes[...]
                    portText = nil
                }
                try checkName(host)
            }
            var port: UInt16?
            if let portText { port = try parsePort(portText) }
            if requirePort, port == nil { throw invalid("CONNECT target needs host:port") }
            let name = String(decoding: host, as: UTF8.self)
            return Authority(host: HTTPRequestParser.Syntax.lowercased(name), port: port)
        }

        /// Port 1...65535 in plain decimal; empty, zero-padded or out-of-range ports are refused
        /// rather than read as "default" or truncated.
        private static func parsePort(_ digits: ArraySlice<UInt8>) throws(HTTPFramingError) -> UInt16 {
            guard !digits.isEmpty else { throw invalid("empty port") }
            guard digits.count <= 5, digits.allSatisfy(HTTPRequestParser.Syntax.isDigit),
                digits.first != UInt8(ascii: "0")
            else { throw invalid("bad port") }
            let value = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard let port = UInt16(exactly: value) else { throw invalid("port \(value) out of range") }
            return port
        }

        /// A DNS-style name: letters, digits, '-', '_' in dot-separated labels of 1...63 bytes.
        private static func checkName(_ name: ArraySlice<UInt8>) throws(HTTPFramingError) {
            guard (1...253).contains(name.count) else { throw invalid("host name of \(name.count) bytes") }
            let allowed = name.allSatisfy { byte in
                switch byte {
                case 0x30...0x39, 0x41...0x5a, 0x61...0x7a, UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                    return true
                default: return false
                }
            }
            guard allowed else { throw invalid("host has a character outside letters, digits, '-', '_', '.'") }
            let labels = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard labels.allSatisfy({ (1...63).contains($0.count) }) else {
                throw invalid("host has an empty or over-long label")
            }
            // WHATWG URL rule: a name whose last label is a number is an IPv4 address. Only the
            // canonical dotted quad is accepted; "127.1" or "0x7f.1" mean 127.0.0.1 to some parsers.
            if let last = labels.last, isNumeric(last), !isCanonicalIPv4(labels) {
                throw invalid("numeric host is not a canonical dotted-quad IPv4 address")
            }
        }

        private static func isNumeric(_ label: ArraySlice<UInt8>) -> Bool {
            if label.allSatisfy(HTTPRequestParser.Syntax.isDigit) { return true }
            let lower = label.map { $0 | 0x20 }
            return lower.count >= 2 && lower[0] == UInt8(ascii: "0") && lower[1] == UInt8(ascii: "x")
                && lower.dropFirst(2).allSatisfy { HTTPRequestParser.Syntax.hexValue($0) != nil }
        }

        private static func isCanonicalIPv4(_ labels: [ArraySlice<UInt8>]) -> Bool {
            labels.count == 4
                && labels.allSatisfy { label in
                    guard (1...3).contains(label.count), label.allSatisfy(HTTPRequestParser.Syntax.isDigit) else {
                        return false
                    }
                    guard label.count == 1 || label.first != UInt8(ascii: "0") else { return false }
                    return label.reduce(0) { $0 * 10 + Int($1 - 0x30) } <= 255
                }
        }

        private static func invalid(_ message: String) -> HTTPFramingError {
            HTTPFramingError(.invalidHost, message)
        }
    }
}
