import Policy

/// The state of one inspected TLS connection: the guard is the server to the program (with a
/// leaf minted for the server name) and the client to the real server (whose certificate it
/// verifies). The upstream handshake comes first, so that a server the guard cannot trust is
/// explained to the program (a 502 with `X-Warden-Block`) over a completed handshake.
final class TLSInterception {
    enum Stage {
        /// The guard's handshake with the real server.
        case upstreamHandshake
        /// The program's handshake with the guard (its ClientHello, already read, fed first).
        case clientHandshake
        /// The upstream was refused: the program's handshake completes only to carry the reason.
        case refusing(Verdict)
        case established
    }

    var stage = Stage.upstreamHandshake
    /// The SNI, lower-cased without a trailing dot: every request's Host must agree (R22).
    let serverName: String
    /// The ClientHello bytes peeked to judge the connection.
    let clientHello: [UInt8]
    let upstream: TLSSession
    var client: TLSSession?
    /// Plaintext from the server the program's session has not taken yet.
    var pendingDown: [UInt8] = []
    /// A socket reached its end (no more ciphertext from that side).
    var clientSocketEnded = false
    var upstreamSocketEnded = false
    /// How each side ended its TLS stream: with close_notify, or by just closing.
    var clientEndedCleanly = false
    var upstreamEndedCleanly = false
    /// The last decryption on that side returned data: more complete records may wait in the
    /// session's buffer, where epoll cannot see them, so the connection asks to run again.
    var moreFromClient = false
    var moreFromUpstream = false
    /// close_notify was queued toward that side.
    var clientNotified = false
    var upstreamNotified = false
    let startedAt: UInt64

    init(serverName: String, clientHello: [UInt8], upstream: TLSSession, now: UInt64) {
        self.serverName = serverName
        self.clientHello = clientHello
        self.upstream = upstream
        startedAt = now
    }

    var established: Bool {
        if case .established = stage { return true }
        return false
    }
}
