extension TLSClientHelloParser {
    /// RFC 6066 §3. Exactly one host_name: a list with several names (or other name types)
    /// leaves it open which one the server will use, so it is refused, never picked from.
    static func parseServerName(_ data: inout Reader) throws(Stop) -> String {
        var list = try data.vector(lengthBytes: 2, "server_name_list")
        guard data.isAtEnd else { throw .malformed("bytes after server_name_list") }
        guard !list.isAtEnd else { throw .malformed("empty server_name_list") }
        let nameType = try list.uint8("server_name name_type")
        guard nameType == 0 else { throw .malformed("server_name entry of type \(nameType), not host_name") }
        let length = try list.uint16("host_name length")
        guard (1...253).contains(length) else { throw .malformed("host_name of \(length) bytes (must be 1...253)") }
        let name = try list.bytes(length, "host_name")
        guard list.isAtEnd else { throw .malformed("more than one server_name entry") }
        // Printable ASCII only: NUL, spaces and controls are how name-confusion attacks start.
        guard name.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw .malformed("host_name has a byte outside printable ASCII")
        }
        return String(decoding: name, as: UTF8.self).lowercased()
    }

    /// RFC 7301 §3.1. Names are kept only when printable ASCII so they compare exactly; RFC 8701
    /// GREASE identifiers are dropped because they exist only to be ignored.
    static func parseALPN(_ data: inout Reader) throws(Stop) -> [String] {
        var list = try data.vector(lengthBytes: 2, "protocol_name_list")
        guard data.isAtEnd else { throw .malformed("bytes after protocol_name_list") }
        guard !list.isAtEnd else { throw .malformed("empty ALPN protocol_name_list") }
        var names: [String] = []
        while !list.isAtEnd {
            let length = try list.uint8("ALPN protocol name length")
            guard length > 0 else { throw .malformed("empty ALPN protocol name") }
            let name = try list.bytes(length, "ALPN protocol name")
            if isGREASE(name) { continue }
            guard name.allSatisfy({ (0x21...0x7e).contains($0) }) else {
                throw .malformed("ALPN protocol name has a byte outside printable ASCII")
            }
            names.append(String(decoding: name, as: UTF8.self))
        }
        return names
    }

    /// RFC 8701 §2: ALPN GREASE values are the two-byte identifiers 0x?A?A with equal bytes.
    static func isGREASE(_ name: ArraySlice<UInt8>) -> Bool {
        guard name.count == 2, let first = name.first, let last = name.last else { return false }
        return first == last && first & 0x0f == 0x0a
    }
}
