extension HTTPRequestParser {
    /// Turns a checked request line and field list into a head, refusing every framing or
    /// addressing ambiguity that R22 names (and the neighbours of each).
    enum HeadBuilder {
        static func build(
            _ line: RequestLine, fields: [HTTPHeader], headerLength: Int
        ) throws(HTTPFramingError) -> HTTPRequestHead {
            let byName = Dictionary(grouping: fields) { Syntax.lowercased($0.name) }.mapValues { $0.map(\.value) }
            let (contentLength, chunked) = try framing(byName, minorVersion: line.minorVersion)
            let authority = try destination(line, hosts: byName["host"] ?? [])
            let upgrade = try upgrade(byName, minorVersion: line.minorVersion)
            return HTTPRequestHead(
                method: line.method,
                target: line.target,
                path: path(line),
                minorVersion: line.minorVersion,
                host: authority?.host,
                port: authority?.port,
                contentLength: contentLength,
                chunked: chunked,
                upgrade: upgrade,
                connectionClose: connectionClose(byName["connection"] ?? [], minorVersion: line.minorVersion),
                headers: fields,
                headerLength: headerLength)
        }

        // Messages never quote field values: they may hold credentials (userinfo in Host) and
        // they go to logs and audit records.

        /// RFC 9112 §6.3: where the body ends. Only one unambiguous answer is accepted.
        private static func framing(
            _ byName: [String: [String]], minorVersion: Int
        ) throws(HTTPFramingError) -> (UInt64?, Bool) {
            let lengths = byName["content-length"] ?? []
            let encodings = byName["transfer-encoding"] ?? []
            if !lengths.isEmpty, !encodings.isEmpty {
                throw HTTPFramingError(
                    .contentLengthWithTransferEncoding, "both Content-Length and Transfer-Encoding (request smuggling)")
            }
            if let length = lengths.first {
                guard lengths.count == 1, !length.contains(",") else {
                    throw HTTPFramingError(.multipleContentLength, "more than one Content-Length")
                }
                guard !length.isEmpty, length.utf8.allSatisfy(Syntax.isDigit), let value = UInt64(length) else {
                    throw HTTPFramingError(.invalidContentLength, "Content-Length is not a decimal number")
                }
                return (value, false)
            }
            if let encoding = encodings.first {
                guard encodings.count == 1 else {
                    throw HTTPFramingError(.unsupportedTransferEncoding, "more than one Transfer-Encoding")
                }
                guard Syntax.lowercased(encoding) == "chunked" else {
                    throw HTTPFramingError(.unsupportedTransferEncoding, "Transfer-Encoding is not exactly chunked")
                }
                // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
                guard minorVersion == 1 else {
                    throw HTTPFramingError(.unsupportedTransferEncoding, "Transfer-Encoding in an HTTP/1.0 request")
                }
                return (nil, true)
            }
            return (nil, false)
        }

        /// Where the request goes: Host, checked against any authority in the target.
        private static func destination(
            _ line: RequestLine, hosts: [String]
        ) throws(HTTPFramingError) -> Authority? {
            guard hosts.count <= 1 else { throw HTTPFramingError(.duplicateHost, "more than one Host header") }
            var host: Authority?
            if let text = hosts.first { host = try Authority.parse(text, requirePort: false) }
            if host == nil, line.minorVersion == 1 {
                throw HTTPFramingError(.missingHost, "HTTP/1.1 request without Host")
            }
            switch line.form {
            case .origin, .asterisk:
                return host
            case .absolute(let authority, _):
                guard let host else { return authority }
                guard host.host == authority.host, (host.port ?? 80) == (authority.port ?? 80) else {
                    throw HTTPFramingError(.hostMismatch, "absolute URI authority differs from Host")
                }
                return host
            case .authority(let authority):
                // CONNECT tunnels to its target; a Host that names anything else is refused. A
                // Host without port says nothing about the port, so only a written one must agree.
                if let host, host.host != authority.host || (host.port.map { $0 != authority.port } ?? false) {
                    throw HTTPFramingError(.hostMismatch, "CONNECT target differs from Host")
                }
                return authority
            }
        }

        /// Only WebSocket may change the protocol; h2c would carry requests the guard cannot read.
        private static func upgrade(
            _ byName: [String: [String]], minorVersion: Int
        ) throws(HTTPFramingError) -> String? {
            let values = (byName["upgrade"] ?? []).map(Syntax.lowercased)
            if values.contains(where: { $0.contains("h2c") }) || byName["http2-settings"] != nil {
                throw HTTPFramingError(.h2cUpgrade, "Upgrade to h2c (HTTP/2 cleartext)")
            }
            guard let value = values.first else { return nil }
            guard values.count == 1, value == "websocket", minorVersion == 1 else {
                throw HTTPFramingError(.unsupportedUpgrade, "Upgrade other than one websocket over HTTP/1.1")
            }
            return value
        }

        private static func connectionClose(_ values: [String], minorVersion: Int) -> Bool {
            let options = values.flatMap { $0.utf8.split(separator: UInt8(ascii: ",")) }
                .map { Syntax.lowercased(String(decoding: Syntax.trimmingWhitespace($0), as: UTF8.self)) }
            if options.contains("close") { return true }
            return minorVersion == 0 && !options.contains("keep-alive")
        }

        private static func path(_ line: RequestLine) -> String {
            switch line.form {
            case .origin, .asterisk, .authority: return line.target
            case .absolute(_, let path): return path
            }
        }
    }
}
