extension HTTPRequestParser {
    /// The four request-target forms of RFC 9112 §3.2, each allowed only with the methods that
    /// use it, so the destination is never inferred from an unusual combination.
    enum Target: Equatable {
        /// "/path?query".
        case origin
        /// "http://authority/path": the authority and the path part ("/" when empty).
        case absolute(Authority, path: String)
        /// CONNECT "host:port".
        case authority(Authority)
        /// OPTIONS "*".
        case asterisk

        static func classify(_ target: String, method: String) throws(HTTPFramingError) -> Target {
            if target.contains("#") {
                throw HTTPFramingError(.malformedRequestLine, "request-target contains a fragment")
            }
            if method == "CONNECT" {
                return .authority(try Authority.parse(target, requirePort: true))
            }
            if target == "*" {
                guard method == "OPTIONS" else {
                    throw HTTPFramingError(.malformedRequestLine, "asterisk-form target with \(method)")
                }
                return .asterisk
            }
            if target.hasPrefix("/") {
                // "//host/p" is a network-path reference to some URL parsers: two readings, refused.
                guard !target.hasPrefix("//") else {
                    throw HTTPFramingError(.malformedRequestLine, "origin-form target starts with //")
                }
                return .origin
            }
            return try absolute(target)
        }

        /// Only "http" is accepted: the guard is judging plaintext, and any other scheme in a plain
        /// request means the client and the guard disagree about what this connection is.
        private static func absolute(_ target: String) throws(HTTPFramingError) -> Target {
            let prefix = "http://"
            guard target.utf8.count > prefix.utf8.count,
                HTTPRequestParser.Syntax.lowercased(String(target.prefix(prefix.count))) == prefix
            else {
                throw HTTPFramingError(.malformedRequestLine, "request-target is not origin-form or an http:// URI")
            }
            let rest = target.dropFirst(prefix.count)
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            let authority = try Authority.parse(String(rest[..<authorityEnd]), requirePort: false)
            let tail = rest[authorityEnd...]
            let path = tail.isEmpty ? "/" : tail.hasPrefix("?") ? "/" + tail : String(tail)
            return .absolute(authority, path: path)
        }
    }
}
