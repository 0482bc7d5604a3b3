/// What the guard learns from a TLS ClientHello.
///
/// Only the fields policy needs: the name the client says it is reaching (SNI), whether it hid
/// that name behind Encrypted Client Hello (R22 refuses both "no SNI" and "ECH" in allowlist
/// mode), and the ALPN offer so the relay knows which protocol will follow.
public struct TLSClientHello: Sendable, Equatable {
    /// The server_name (SNI) host_name, lowercased; nil when absent.
    public var serverName: String?
    /// An encrypted_client_hello extension (0xfe0d) is present.
    public var encryptedClientHello: Bool
    /// ALPN protocol names offered, in order (RFC 8701 GREASE identifiers left out).
    public var alpn: [String]

    public init(serverName: String? = nil, encryptedClientHello: Bool = false, alpn: [String] = []) {
        self.serverName = serverName
        self.encryptedClientHello = encryptedClientHello
        self.alpn = alpn
    }
}

/// The verdict on the bytes a client has sent so far.
///
/// Three-valued so the relay can keep reading (`needMore`) without ever guessing: a connection
/// is judged only on a complete, fully checked ClientHello, and anything else is refused.
public enum TLSPeek: Sendable, Equatable {
    /// Not enough bytes yet; what arrived so far is a valid prefix.
    case needMore
    /// `length`: bytes of the TLS records that carried the ClientHello.
    case clientHello(TLSClientHello, length: Int)
    /// One-line reason.
    case malformed(String)
}
