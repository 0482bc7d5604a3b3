/// Why the guard refused to read an HTTP/1.x request head.
///
/// Each code names one way a request could be framed or addressed ambiguously (RFC 9112 §6.3,
/// §3.2; R22). The guard refuses instead of choosing an interpretation, because the server
/// behind it might choose differently and a request would slip past policy.
public struct HTTPFramingError: Error, Sendable, Equatable {
    public enum Code: String, Sendable {
        case headerTooLarge, tooManyHeaders, malformedRequestLine, unsupportedVersion
        case invalidCharacter, bareLineFeed, obsoleteLineFolding, whitespaceBeforeColon
        case contentLengthWithTransferEncoding, multipleContentLength, invalidContentLength
        case unsupportedTransferEncoding, duplicateHost, missingHost, invalidHost, hostMismatch
        case h2cUpgrade, http2Preface, unsupportedUpgrade
    }

    public var code: Code
    /// One line a human can read, e.g. "both Content-Length and Transfer-Encoding (request smuggling)".
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
