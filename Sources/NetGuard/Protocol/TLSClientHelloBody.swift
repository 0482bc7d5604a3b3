extension TLSClientHelloParser {
    /// RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2 before it): everything after the handshake header.
    ///
    /// Every vector must fill its container exactly; trailing or missing bytes are refused
    /// rather than skipped, because a parser that tolerates slack can be made to see a different
    /// SNI than the server does.
    static func parseBody(_ body: inout Reader) throws(Stop) -> TLSClientHello {
        let version = try body.uint16("legacy_version")
        // 0x0300 is SSL 3.0 (prohibited, RFC 7568); TLS 1.3 still writes 0x0303 here.
        guard (0x0301...0x0303).contains(version) else {
            throw .malformed("unsupported legacy_version 0x\(hex(version, width: 4))")
        }
        try body.skip(32, "random")
        let sessionID = try body.vector(lengthBytes: 1, "session_id")
        guard sessionID.remaining <= 32 else { throw .malformed("session_id longer than 32 bytes") }
        let suites = try body.vector(lengthBytes: 2, "cipher_suites")
        guard suites.remaining >= 2, suites.remaining % 2 == 0 else {
            throw .malformed("cipher_suites length \(suites.remaining) is empty or odd")
        }
        let compression = try body.vector(lengthBytes: 1, "compression_methods")
        guard compression.remaining >= 1 else { throw .malformed("no compression_methods") }
        // A TLS 1.2 hello may stop here: no extensions, hence no SNI.
        if body.isAtEnd { return TLSClientHello() }
        var extensions = try body.vector(lengthBytes: 2, "extensions")
        guard body.isAtEnd else { throw .malformed("bytes after the extensions block") }
        return try parseExtensions(&extensions)
    }

    /// Reads the extension block, keeping only what the guard judges.
    static func parseExtensions(_ block: inout Reader) throws(Stop) -> TLSClientHello {
        var hello = TLSClientHello()
        var seen: Set<Int> = []
        while !block.isAtEnd {
            let type = try block.uint16("extension type")
            // RFC 8446 §4.2 forbids repeats; two server_names could mean two different hosts.
            guard seen.insert(type).inserted else {
                throw .malformed(type == serverNameType
                    ? "two server_name extensions"
                    : "duplicate extension 0x\(hex(type, width: 4))")
            }
            var data = try block.vector(lengthBytes: 2, "extension 0x\(hex(type, width: 4))")
            switch type {
            case serverNameType: hello.serverName = try parseServerName(&data)
            case alpnType: hello.alpn = try parseALPN(&data)
            case encryptedClientHelloType:
                guard data.remaining > 0 else { throw .malformed("empty encrypted_client_hello extension") }
                hello.encryptedClientHello = true
            default: break
            }
        }
        return hello
    }

    static let serverNameType = 0
    static let alpnType = 16
    static let encryptedClientHelloType = 0xfe0d

    static func hex(_ value: Int, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
