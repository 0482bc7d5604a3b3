@testable import NetGuard

/// Byte helpers for the protocol parser tests.
enum ProtocolBytes {
    /// Decodes hex lines; a malformed fixture yields an empty array, which every test notices.
    static func hex(_ lines: [String]) -> [UInt8] {
        let digits = Array(lines.joined().utf8)
        guard digits.count % 2 == 0 else { return [] }
        var bytes: [UInt8] = []
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return [] }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 0x30...0x39: return digit - 0x30
        case 0x61...0x66: return digit - 0x61 + 10
        case 0x41...0x46: return digit - 0x41 + 10
        default: return nil
        }
    }

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    static func u24(_ value: Int) -> [UInt8] { [UInt8(value >> 16 & 0xff)] + u16(value) }
    static func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }
}

/// Builds ClientHellos field by field, so each test can break exactly one thing.
enum HelloBuilder {
    static func serverName(_ names: [String], type: UInt8 = 0) -> [UInt8] {
        let entries = names.flatMap { [type] + ProtocolBytes.u16($0.utf8.count) + ProtocolBytes.ascii($0) }
        return ProtocolBytes.u16(entries.count) + entries
    }

    static func alpn(_ names: [[UInt8]]) -> [UInt8] {
        let entries = names.flatMap { [UInt8($0.count)] + $0 }
        return ProtocolBytes.u16(entries.count) + entries
    }

    static func ext(_ type: Int, _ data: [UInt8]) -> [UInt8] {
        ProtocolBytes.u16(type) + ProtocolBytes.u16(data.count) + data
    }

    /// ClientHello body: TLS 1.2 legacy_version, zero random, one cipher suite, null compression.
    static func body(extensions: [[UInt8]]?, version: Int = 0x0303, sessionID: [UInt8] = []) -> [UInt8] {
        var body = ProtocolBytes.u16(version) + [UInt8](repeating: 7, count: 32)
        body += [UInt8(sessionID.count)] + sessionID
        body += ProtocolBytes.u16(2) + [0x13, 0x01]
        body += [1, 0]
        if let extensions {
            let block = extensions.flatMap { $0 }
            body += ProtocolBytes.u16(block.count) + block
        }
        return body
    }

    static func handshake(_ body: [UInt8], type: UInt8 = 1) -> [UInt8] {
        [type] + ProtocolBytes.u24(body.count) + body
    }

    /// Wraps `handshake` in records whose payloads have the given sizes (the last takes the rest).
    static func records(_ handshake: [UInt8], sizes: [Int] = [], type: UInt8 = 22) -> [UInt8] {
        var out: [UInt8] = []
        var rest = handshake[...]
        for size in sizes where !rest.isEmpty {
            let piece = rest.prefix(size)
            out += [type, 3, 1] + ProtocolBytes.u16(piece.count) + piece
            rest = rest.dropFirst(piece.count)
        }
        if !rest.isEmpty { out += [type, 3, 1] + ProtocolBytes.u16(rest.count) + rest }
        return out
    }

    static func hello(_ extensions: [[UInt8]]?) -> [UInt8] {
        records(handshake(body(extensions: extensions)))
    }
}

extension TLSClientHelloParser {
    static func parse(_ bytes: [UInt8], maxLength: Int = 16_389) -> TLSPeek {
        bytes.withUnsafeBytes { parse($0, maxLength: maxLength) }
    }
}

extension HTTPRequestParser {
    static func parse(_ text: String, maxHeaderBytes: Int = 32_768, maxHeaders: Int = 128) -> HTTPPeek {
        parse(Array(text.utf8), maxHeaderBytes: maxHeaderBytes, maxHeaders: maxHeaders)
    }

    static func parse(_ bytes: [UInt8], maxHeaderBytes: Int = 32_768, maxHeaders: Int = 128) -> HTTPPeek {
        bytes.withUnsafeBytes { parse($0, maxHeaderBytes: maxHeaderBytes, maxHeaders: maxHeaders) }
    }
}

extension ChunkedBodyScanner {
    mutating func scan(_ bytes: [UInt8]) -> Step {
        bytes.withUnsafeBytes { scan($0) }
    }
}
