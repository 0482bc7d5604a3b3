/// Where a plain-HTTP connection is between requests: in a head, in a body of known length
/// (spliced), or in a chunked body (scanned).
struct HTTPStream {
    enum Body {
        case none
        case length
        case chunked(ChunkedBodyScanner)
    }

    var body = Body.none
    /// Bytes of the current Content-Length body still to come from the client.
    var bodyRemaining: UInt64 = 0
    /// The body's rest is being spliced (nothing of it is buffered).
    var splicingBody = false
    /// When the current, unfinished request head began (slowloris bound).
    var headStartedAt: UInt64?
    var requests = 0
}
