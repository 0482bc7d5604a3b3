extension HTTPRequestParser {
    /// The start line, split and checked, with its target classified.
    struct RequestLine {
        var method: String
        var target: String
        var form: Target
        var minorVersion: Int
    }

    /// RFC 9112 §3: `method SP request-target SP HTTP-version`, single spaces, nothing else.
    static func parseRequestLine(_ line: [UInt8]) throws(HTTPFramingError) -> RequestLine {
        if line.contains(Syntax.tab) {
            throw HTTPFramingError(.invalidCharacter, "HTAB in the request line")
        }
        let parts = line.split(separator: Syntax.space, omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw HTTPFramingError(.malformedRequestLine, "request line is not METHOD SP target SP version")
        }
        let methodBytes = parts[0]
        let method = String(decoding: methodBytes, as: UTF8.self)
        guard methodBytes.allSatisfy(Syntax.isTChar) else {
            throw HTTPFramingError(.malformedRequestLine, "method is not a token")
        }
        // PRI is reserved for the HTTP/2 connection preface (RFC 9113 §3.4).
        if method == "PRI" {
            throw HTTPFramingError(.http2Preface, "HTTP/2 connection preface on an HTTP/1.x connection")
        }
        // Methods are case-sensitive; a server that folds case would run a method policy never saw.
        guard !methodBytes.contains(where: { (0x61...0x7a).contains($0) }) else {
            throw HTTPFramingError(.malformedRequestLine, "method \(method) is not upper-case")
        }
        let minorVersion = try parseVersion(parts[2])
        let targetBytes = parts[1]
        guard targetBytes.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw HTTPFramingError(.malformedRequestLine, "request-target has a byte outside visible ASCII")
        }
        let target = String(decoding: targetBytes, as: UTF8.self)
        let form = try Target.classify(target, method: method)
        return RequestLine(method: method, target: target, form: form, minorVersion: minorVersion)
    }

    /// Only HTTP/1.0 and HTTP/1.1; the name is case-sensitive (RFC 9112 §2.3).
    private static func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPFramingError) -> Int {
        let text = String(decoding: bytes, as: UTF8.self)
        switch text {
        case "HTTP/1.0": return 0
        case "HTTP/1.1": return 1
        default: break
        }
        let shape = Array(bytes)
        if shape.count == 8, text.hasPrefix("HTTP/"), Syntax.isDigit(shape[5]), shape[6] == UInt8(ascii: "."),
            Syntax.isDigit(shape[7])
        {
            throw HTTPFramingError(.unsupportedVersion, "\(text) is not HTTP/1.0 or HTTP/1.1")
        }
        throw HTTPFramingError(.malformedRequestLine, "request line does not end in an HTTP version")
    }
}
