import Policy

/// The state of one inspected TLS connection: the guard is the server to the program (with a
/// leaf minted for the server name) and the client to the real server (whose certificate it
/// verifies). A server the guard cannot trust is explained to the program (a 502 with
/// `X-Warden-Block`) over the program's completed handshake.
final class TLSInterception {
    /// The two handshakes run at once: the program's (its ClientHello, already read, fed
    /// first) and the guard's own with the real server. Requests are read once both are done.
    var clientReady = false
    var upstreamReady = false
    /// The upstream could not be trusted or reached over TLS: the program's handshake
    /// completes only to carry this reason (a 502 with `X-Warden-Block`).
    var refusal: Verdict?
    /// The SNI, lower-cased without a trailing dot: every request's Host must agree (R22).
    let serverName: String
    let upstream: TLSSession
    let client: TLSSession
    /// Plaintext from the server the program's session has not taken yet.
    var pendingDown: [UInt8] = []
    /// How each side ended its TLS stream: with close_notify, or by just closing.
    var clientEndedCleanly = false
    var upstreamEndedCleanly = false
    /// The program offered HTTP/2: its handshake waits for the server's choice, so that both
    /// sides speak the same protocol and the guard can read it.
    var offersHTTP2 = false
    /// HTTP/2 agreed: the program's frames as read, the server's frame boundaries, and frames
    /// of the guard's own waiting for a boundary.
    var http2: HTTP2ClientStream?
    var serverFrames = HTTP2ServerStream()
    var injection: [UInt8]?
    /// The last read on each side returned data (not WANT_READ): records OpenSSL read ahead
    /// may wait inside the session, where epoll cannot see them.
    var moreFromClient = false
    var moreFromUpstream = false
    init(serverName: String, upstream: TLSSession, client: TLSSession) {
        self.serverName = serverName
        self.upstream = upstream
        self.client = client
    }

    var established: Bool { clientReady && upstreamReady && refusal == nil }
}
