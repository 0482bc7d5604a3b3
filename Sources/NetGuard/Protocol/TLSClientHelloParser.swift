/// Reads the first flight of a TLS client far enough to judge it, without terminating TLS.
///
/// The guard never decrypts; it decides from the ClientHello alone. So the parse is strict:
/// any length that disagrees with its container, any record that is not a handshake record
/// before the hello is complete, any repeated or partial SNI is refused, never repaired.
public enum TLSClientHelloParser {
    /// RFC 8446 §5.1: a plaintext record fragment is at most 2^14 bytes.
    static let maxRecordPayload = 16_384
    static let recordHeaderLength = 5
    static let handshakeRecordType: UInt8 = 22
    static let clientHelloMessageType: UInt8 = 1

    /// `bytes`: what the client sent so far (starting at its first byte).
    /// `maxLength`: the most record bytes the guard will buffer for one ClientHello.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxLength: Int = 16_389) -> TLSPeek {
        do {
            return try peek(bytes, maxLength: maxLength)
        } catch {
            switch error {
            case .needMore: return .needMore
            case .malformed(let reason): return .malformed(reason)
            }
        }
    }

    /// True when the first byte(s) look like a TLS handshake record (0x16, 0x03, 0x00...0x04).
    ///
    /// A cheap sniff for choosing a parser, not a verdict: it looks at no more than three bytes
    /// and answers true for a matching prefix (even one byte, 0x16). Empty input is false.
    public static func looksLikeTLS(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first, first == handshakeRecordType else { return false }
        if bytes.count >= 2, bytes[1] != 0x03 { return false }
        if bytes.count >= 3, bytes[2] > 0x04 { return false }
        return true
    }

    private static func peek(_ bytes: UnsafeRawBufferPointer, maxLength: Int) throws(Stop) -> TLSPeek {
        let assembly = try reassemble(bytes, maxLength: maxLength)
        let handshake = assembly.handshake
        guard let type = handshake.first else { throw .needMore }
        guard type == clientHelloMessageType else {
            throw .malformed("handshake message type \(type) is not ClientHello")
        }
        guard handshake.count >= 4 else { throw .needMore }
        var body = Reader(bytes: handshake, start: 4, end: 4 + messageLength(handshake))
        let hello = try parseBody(&body)
        // The body parsed in full, so every byte up to the message end has arrived.
        guard let length = assembly.completedAt else { throw .needMore }
        return .clientHello(hello, length: length)
    }

    /// Length field of a handshake header (needs at least four bytes).
    static func messageLength(_ handshake: [UInt8]) -> Int {
        Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
    }
}
