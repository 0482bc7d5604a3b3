/// An HTTP/2 request as the guard judges it, built from a decoded header block under RFC 9113
/// §8.2–8.3: pseudo-headers first, each once, the four a request may carry and no other;
/// lower-case names, values without NUL, CR, LF or surrounding white space; none of HTTP/1's
/// connection-specific fields; `:authority` and `host` agreeing when both are sent. A block that
/// breaks any of these is malformed, and refused rather than guessed at.
struct HTTP2RequestHead: Equatable {
    var method: String
    var path: String
    /// Lower-cased, without port or trailing dot; nil when neither :authority nor host is sent.
    var host: String?
    var port: UInt16?
    /// The `content-length` field, if sent: DATA must add up to it exactly (RFC 9113 §8.1.1).
    var contentLength: Int? = nil
    /// The regular fields, for detection (credentials and planted values in headers).
    var headers: [HTTPHeader] = []

    static let connectionSpecific: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]

    static func parse(_ fields: [HPACKDecoder.Field]) throws(HTTPFramingError) -> HTTP2RequestHead {
        var pseudo: [String: String] = [:]
        var regularSeen = false
        var hostHeader: String?
        var contentLength: Int?
        var headers: [HTTPHeader] = []
        for (rawName, rawValue) in fields {
            guard !rawName.isEmpty else { throw malformed("an empty field name") }
            guard rawValue.allSatisfy({ $0 != 0 && $0 != 0x0A && $0 != 0x0D }),
                  rawValue.first.map({ $0 != 0x20 && $0 != 0x09 }) ?? true, rawValue.last.map({ $0 != 0x20 && $0 != 0x09 }) ?? true else {
                throw malformed("a field value with NUL, CR, LF or surrounding white space")
            }
            let name = String(decoding: rawName, as: UTF8.self)
            let value = String(decoding: rawValue, as: UTF8.self)
            if rawName[0] == UInt8(ascii: ":") {
                guard !regularSeen else { throw malformed("pseudo-header \(name.prefix(40)) after a regular field") }
                guard [":method", ":scheme", ":authority", ":path"].contains(name) else { throw malformed("pseudo-header \(name.prefix(40)) is not one a request carries") }
                guard pseudo[name] == nil else { throw malformed("pseudo-header \(name) twice") }
                pseudo[name] = value
                continue
            }
            regularSeen = true
            headers.append(HTTPHeader(name: name, value: value))
            guard rawName.allSatisfy({ HTTPRequestParser.Syntax.isTChar($0) && !($0 >= 0x41 && $0 <= 0x5A) }) else {
                throw malformed("field name \(name.prefix(40)) is not a lower-case token")
            }
            if connectionSpecific.contains(name) { throw malformed("connection-specific field \(name) (RFC 9113 §8.2.2)") }
            if name == "te" && value != "trailers" { throw malformed("te other than trailers") }
            if name == "content-length" {
                guard contentLength == nil, !rawValue.isEmpty, rawValue.count <= 15, rawValue.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      let length = Int(value) else {
                    throw HTTPFramingError(.invalidContentLength, "malformed HTTP/2 request: content-length \(value.prefix(20)) (one, all digits)")
                }
                contentLength = length
            }
            if name == "host" {
                guard hostHeader == nil else { throw HTTPFramingError(.duplicateHost, "two host fields") }
                hostHeader = value
            }
        }
        guard let method = pseudo[":method"], !method.isEmpty, method.utf8.allSatisfy(HTTPRequestParser.Syntax.isTChar) else {
            throw malformed("no valid :method")
        }
        guard method != "CONNECT" else {
            throw malformed("CONNECT inside a connection (programs that tunnel open a new connection to the proxy)")
        }
        guard let path = pseudo[":path"], path.hasPrefix("/") || (path == "*" && method == "OPTIONS"),
              path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw malformed("no valid :path")
        }
        guard let scheme = pseudo[":scheme"], scheme == "https" || scheme == "http" else { throw malformed("no :scheme http or https") }
        _ = scheme
        var authority: HTTPRequestParser.Authority?
        if let text = pseudo[":authority"] { authority = try HTTPRequestParser.Authority.parse(text, requirePort: false) }
        if let hostHeader {
            let fromHost = try HTTPRequestParser.Authority.parse(hostHeader, requirePort: false)
            if let authority, authority != fromHost {
                throw HTTPFramingError(.hostMismatch, ":authority \(authority.host.prefix(80)) and host \(fromHost.host.prefix(80)) disagree")
            }
            authority = authority ?? fromHost
        }
        let host = authority.map { $0.host.hasSuffix(".") ? String($0.host.dropLast()) : $0.host }
        return HTTP2RequestHead(method: method, path: path, host: host, port: authority?.port, contentLength: contentLength, headers: headers)
    }

    private static func malformed(_ what: String) -> HTTPFramingError {
        HTTPFramingError(.malformedRequestLine, "malformed HTTP/2 request: \(what)")
    }
}
