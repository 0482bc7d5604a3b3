/// A malformed document: where, and what was expected.
public struct JSONCError: Error, Sendable, Equatable {
    public var location: SourceLocation
    public var message: String
}

/// JSON with comments (`//` to the end of the line, `/* … */`) and trailing commas, as editors
/// and `.cursor/environment.json` files use it. Strict otherwise: one value, RFC 8259 strings
/// and numbers, no duplicate keys (two readers could pick different ones), bounded depth and
/// size, every error with its line and column.
public enum JSONCParser {
    public static let maxBytes = 1 << 20
    public static let maxDepth = 64

    public static func parse(_ text: String) throws(JSONCError) -> JSONCNode {
        var reader = Reader(Array(text.utf8))
        guard reader.bytes.count <= maxBytes else {
            throw JSONCError(location: SourceLocation(line: 1, column: 1), message: "the file is larger than \(maxBytes) bytes")
        }
        if reader.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.index = 3 }
        try reader.skipSpace()
        guard !reader.atEnd else { throw reader.error("the file is empty; expected a JSON object") }
        let node = try reader.value(depth: 0)
        try reader.skipSpace()
        guard reader.atEnd else { throw reader.error("unexpected text after the end of the document") }
        return node
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        /// Index of the first byte of the current line.
        var lineStart = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        /// Columns count characters (UTF-8 continuation bytes are not columns).
        var location: SourceLocation {
            let column = bytes[lineStart..<min(index, bytes.count)].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
            return SourceLocation(line: line, column: column)
        }

        func error(_ message: String) -> JSONCError { JSONCError(location: location, message: message) }

        mutating func advance() {
            if bytes[index] == 0x0A {
                line += 1
                lineStart = index + 1
            }
            index += 1
        }

        mutating func skipSpace() throws(JSONCError) {
            while let byte = peek {
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D:
                    advance()
                case UInt8(ascii: "/"):
                    let start = location
                    guard index + 1 < bytes.count else { throw error("a lone '/'; comments are // or /* */") }
                    if bytes[index + 1] == UInt8(ascii: "/") {
                        while let next = peek, next != 0x0A { advance() }
                    } else if bytes[index + 1] == UInt8(ascii: "*") {
                        advance()
                        advance()
                        var closed = false
                        while !atEnd {
                            if bytes[index] == UInt8(ascii: "*"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                                advance()
                                advance()
                                closed = true
                                break
                            }
                            advance()
                        }
                        guard closed else { throw JSONCError(location: start, message: "a /* comment is never closed") }
                    } else {
                        throw error("a lone '/'; comments are // or /* */")
                    }
                default:
                    return
                }
            }
        }

        mutating func value(depth: Int) throws(JSONCError) -> JSONCNode {
            guard depth < JSONCParser.maxDepth else { throw error("nested deeper than \(JSONCParser.maxDepth) levels") }
            let start = location
            guard let byte = peek else { throw error("the document ends where a value was expected") }
            switch byte {
            case UInt8(ascii: "{"): return JSONCNode(value: .object(try object(depth: depth)), location: start)
            case UInt8(ascii: "["): return JSONCNode(value: .array(try array(depth: depth)), location: start)
            case UInt8(ascii: "\""): return JSONCNode(value: .string(try string()), location: start)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return JSONCNode(value: .number(try number()), location: start)
            default:
                for (word, value) in [("true", JSONCNode.Value.bool(true)), ("false", .bool(false)), ("null", .null)] where matches(word) {
                    for _ in word.utf8 { advance() }
                    return JSONCNode(value: value, location: start)
                }
                throw error("expected a value (object, array, string, number, true, false or null)")
            }
        }

        func matches(_ word: String) -> Bool {
            let utf8 = Array(word.utf8)
            guard index + utf8.count <= bytes.count, Array(bytes[index..<(index + utf8.count)]) == utf8 else { return false }
            // "trueish" is not "true".
            if index + utf8.count < bytes.count, Self.isWordByte(bytes[index + utf8.count]) { return false }
            return true
        }

        static func isWordByte(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }

        mutating func object(depth: Int) throws(JSONCError) -> [JSONCNode.Member] {
            advance()  // {
            var members: [JSONCNode.Member] = []
            var seen: [String: SourceLocation] = [:]
            try skipSpace()
            while peek != UInt8(ascii: "}") {
                guard peek == UInt8(ascii: "\"") else {
                    throw error(atEnd ? "the object is never closed; expected \"}\"" : "expected a key in double quotes or \"}\"")
                }
                let keyLocation = location
                let key = try string()
                if let first = seen[key] {
                    throw JSONCError(location: keyLocation, message: "key \"\(key)\" appears twice (first at \(first))")
                }
                seen[key] = keyLocation
                try skipSpace()
                guard peek == UInt8(ascii: ":") else { throw error("expected \":\" after the key \"\(key)\"") }
                advance()
                try skipSpace()
                members.append(JSONCNode.Member(key: key, keyLocation: keyLocation, value: try value(depth: depth + 1)))
                try skipSpace()
                if peek == UInt8(ascii: ",") {
                    advance()
                    try skipSpace()
                    continue
                }
                guard peek == UInt8(ascii: "}") else { throw error(atEnd ? "the object is never closed; expected \"}\"" : "expected \",\" or \"}\"") }
            }
            advance()  // }
            return members
        }

        mutating func array(depth: Int) throws(JSONCError) -> [JSONCNode] {
            advance()  // [
            var items: [JSONCNode] = []
            try skipSpace()
            while peek != UInt8(ascii: "]") {
                guard !atEnd else { throw error("the array is never closed; expected \"]\"") }
                items.append(try value(depth: depth + 1))
                try skipSpace()
                if peek == UInt8(ascii: ",") {
                    advance()
                    try skipSpace()
                    continue
                }
                guard peek == UInt8(ascii: "]") else { throw error(atEnd ? "the array is never closed; expected \"]\"" : "expected \",\" or \"]\"") }
            }
            advance()  // ]
            return items
        }

        mutating func string() throws(JSONCError) -> String {
            advance()  // opening quote
            var out: [UInt8] = []
            while true {
                guard let byte = peek else { throw error("a string is never closed") }
                switch byte {
                case UInt8(ascii: "\""):
                    advance()
                    guard let text = String(validating: out, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    advance()
                    guard let escape = peek else { throw error("a string is never closed") }
                    let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
                    if let replacement = simple[escape] {
                        out.append(replacement)
                        advance()
                    } else if escape == UInt8(ascii: "u") {
                        advance()
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard peek == 0x5C, index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("a \\u escape is half of a surrogate pair")
                            }
                            advance()
                            advance()
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("a \\u escape is half of a surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("a \\u escape is half of a surrogate pair")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("a \\u escape is not a character") }
                        out += Array(String(Character(unicode)).utf8)
                    } else {
                        throw error("unknown escape \\\(String(UnicodeScalar(escape)))")
                    }
                case 0x00..<0x20:
                    throw error("a control character inside a string (write it as an escape)")
                default:
                    out.append(byte)
                    advance()
                }
            }
        }

        mutating func hex4() throws(JSONCError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = peek, let digit = Self.hexValue(byte) else { throw error("a \\u escape needs four hex digits") }
                value = value << 4 | digit
                advance()
            }
            return value
        }

        static func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        /// RFC 8259 number grammar; the text is kept.
        mutating func number() throws(JSONCError) -> String {
            let start = index
            func digits() -> Int {
                var count = 0
                while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                    advance()
                    count += 1
                }
                return count
            }
            if peek == UInt8(ascii: "-") { advance() }
            if peek == UInt8(ascii: "0") {
                advance()
                if let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { throw error("a number has a leading zero") }
            } else if digits() == 0 {
                throw error("expected digits in a number")
            }
            if peek == UInt8(ascii: ".") {
                advance()
                guard digits() > 0 else { throw error("expected digits after the decimal point") }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                advance()
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { advance() }
                guard digits() > 0 else { throw error("expected digits in the exponent") }
            }
            if let byte = peek, Self.isWordByte(byte) { throw error("a number runs into other characters") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
    }
}
