extension TLSClientHelloParser {
    /// The handshake bytes carried so far and, once the ClientHello is whole, where its last
    /// record ends.
    struct Assembly {
        var handshake: [UInt8] = []
        var completedAt: Int?
    }

    /// Joins the payloads of consecutive handshake records (RFC 8446 §5.1 lets a client split a
    /// handshake message over several records).
    ///
    /// Refused here: any other record type before the hello completes, empty or oversize
    /// records, a record that carries bytes past the end of the ClientHello, and a hello whose
    /// records would not fit in `maxLength`.
    static func reassemble(_ bytes: UnsafeRawBufferPointer, maxLength: Int) throws(Stop) -> Assembly {
        var assembly = Assembly()
        var offset = 0
        var headerBytes = 0
        while offset < bytes.count, assembly.completedAt == nil {
            guard let payloadLength = try recordHeader(bytes, at: offset, isFirst: offset == 0) else { break }
            headerBytes += recordHeaderLength
            let payloadStart = offset + recordHeaderLength
            let recordEnd = payloadStart + payloadLength
            guard recordEnd <= maxLength else { throw tooLong(maxLength) }
            let before = assembly.handshake.count
            assembly.handshake.append(contentsOf: bytes[payloadStart..<min(recordEnd, bytes.count)])
            if assembly.handshake.count >= 4 {
                let total = 4 + messageLength(assembly.handshake)
                // The lower bound of what this hello will occupy on the wire.
                guard headerBytes + total <= maxLength else { throw tooLong(maxLength) }
                guard before + payloadLength <= total else {
                    throw .malformed("a handshake record carries bytes after the ClientHello")
                }
                if before + payloadLength == total, recordEnd <= bytes.count {
                    assembly.completedAt = recordEnd
                }
            }
            offset = recordEnd
        }
        return assembly
    }

    /// Checks the record header at `offset` as far as it has arrived; returns its payload
    /// length, or nil when the header is still incomplete.
    private static func recordHeader(
        _ bytes: UnsafeRawBufferPointer, at offset: Int, isFirst: Bool
    ) throws(Stop) -> Int? {
        let available = bytes.count - offset
        let type = bytes[offset]
        guard type == handshakeRecordType else {
            throw .malformed(isFirst
                ? "record type \(type) is not a TLS handshake record"
                : "record type \(type) arrived before the ClientHello was complete")
        }
        if available >= 2, bytes[offset + 1] != 0x03 {
            throw .malformed("record version major \(bytes[offset + 1]) is not 3")
        }
        if available >= 3, bytes[offset + 2] > 0x04 {
            throw .malformed("record version minor \(bytes[offset + 2]) is above 4")
        }
        guard available >= recordHeaderLength else { return nil }
        let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
        // RFC 8446 §5.1: zero-length handshake fragments MUST NOT be sent.
        guard length > 0 else { throw .malformed("empty handshake record") }
        guard length <= maxRecordPayload else {
            throw .malformed("record payload of \(length) bytes exceeds \(maxRecordPayload)")
        }
        return length
    }

    private static func tooLong(_ maxLength: Int) -> Stop {
        .malformed("ClientHello longer than \(maxLength) bytes")
    }
}
