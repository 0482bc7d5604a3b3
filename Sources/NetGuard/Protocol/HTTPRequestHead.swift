/// One header field as sent: name in its original case, value without surrounding whitespace.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A request head the guard has fully checked, with its framing and destination resolved, so
/// policy judges exactly the request the server will see and the relay knows where it ends.
public struct HTTPRequestHead: Sendable, Equatable {
    /// As sent: a tchar token of upper-case letters, digits and symbols.
    public var method: String
    /// The request-target as sent.
    public var target: String
    /// Origin-form: path and query. Absolute-form: its path part ("/" if empty).
    /// Authority-form (CONNECT): the authority. Asterisk-form: "*".
    public var path: String
    /// HTTP/1.0 → 0, HTTP/1.1 → 1.
    public var minorVersion: Int
    /// Host header (or the absolute-form authority when HTTP/1.0 has no Host; the CONNECT
    /// authority for CONNECT), without port, lowercased; an IPv6 literal without brackets.
    public var host: String?
    /// The port written in Host / the authority, if any.
    public var port: UInt16?
    public var contentLength: UInt64?
    public var chunked: Bool
    /// The Upgrade header value, lowercased and trimmed; only "websocket" gets this far.
    public var upgrade: String?
    /// Connection: close (or HTTP/1.0 without keep-alive): no request follows this one.
    public var connectionClose: Bool
    public var headers: [HTTPHeader]
    /// Bytes up to and including the empty line (CRLF CRLF).
    public var headerLength: Int

    public init(
        method: String, target: String, path: String, minorVersion: Int,
        host: String?, port: UInt16?, contentLength: UInt64?, chunked: Bool,
        upgrade: String?, connectionClose: Bool, headers: [HTTPHeader], headerLength: Int
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.minorVersion = minorVersion
        self.host = host
        self.port = port
        self.contentLength = contentLength
        self.chunked = chunked
        self.upgrade = upgrade
        self.connectionClose = connectionClose
        self.headers = headers
        self.headerLength = headerLength
    }
}

/// The verdict on the bytes a client has sent so far on a plain-HTTP connection.
public enum HTTPPeek: Sendable, Equatable {
    /// Not enough bytes yet; what arrived so far may still be a valid request head.
    case needMore
    case request(HTTPRequestHead)
    case refused(HTTPFramingError)
    /// The first bytes cannot start an HTTP/1.x request.
    case notHTTP
}
