/// Reads an HTTP/1.x request head so the guard can judge every request on a connection (R22).
///
/// Deliberately stricter than RFC 9112 allows a server to be: wherever two HTTP
/// implementations could disagree about where a request ends or where it goes (bare LF,
/// obs-fold, CL+TE, duplicate Host, …) the request is refused, so the server never sees a
/// request that the guard read differently.
public enum HTTPRequestParser {
    /// A method token longer than this is not a method any server implements.
    static let maxMethodLength = 20

    /// `bytes`: what the client sent so far on this connection, starting at the request's first
    /// byte. `maxHeaderBytes` bounds how much the guard buffers before it must see the blank
    /// line; `maxHeaders` bounds the field count. Trailing bytes (body, next request) are ignored;
    /// `headerLength` says where they begin.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, maxHeaderBytes: Int = 32_768, maxHeaders: Int = 128
    ) -> HTTPPeek {
        switch sniffMethod(bytes) {
        case .notHTTP: return .notHTTP
        case .needMore: return .needMore
        case .method: break
        }
        do {
            guard let head = try readHead(bytes, maxHeaderBytes: maxHeaderBytes, maxHeaders: maxHeaders) else {
                return .needMore
            }
            return .request(head)
        } catch {
            return .refused(error)
        }
    }

    private enum Sniff { case notHTTP, needMore, method }

    /// Answers "not HTTP" from the first bytes alone, so TLS, SSH or anything else is sent to the
    /// right judge without waiting for a line that will never come.
    private static func sniffMethod(_ bytes: UnsafeRawBufferPointer) -> Sniff {
        for index in 0..<min(bytes.count, maxMethodLength + 1) {
            let byte = bytes[index]
            if byte == Syntax.space { return index == 0 ? .notHTTP : .method }
            if !Syntax.isTChar(byte) { return .notHTTP }
        }
        return bytes.count > maxMethodLength ? .notHTTP : .needMore
    }

    /// Splits CRLF lines within the first `maxHeaderBytes` and checks each as it completes, so
    /// a bad line is refused at once. Nil means the head is a valid prefix so far.
    private static func readHead(
        _ bytes: UnsafeRawBufferPointer, maxHeaderBytes: Int, maxHeaders: Int
    ) throws(HTTPFramingError) -> HTTPRequestHead? {
        let limit = min(bytes.count, maxHeaderBytes)
        var requestLine: RequestLine?
        var fields: [HTTPHeader] = []
        var lineStart = 0
        var index = 0
        while index < limit {
            let byte = bytes[index]
            if byte == Syntax.lf { throw HTTPFramingError(.bareLineFeed, "line ends in a bare LF (CRLF required)") }
            guard byte == Syntax.cr else {
                if Syntax.isControl(byte), byte != Syntax.tab {
                    throw HTTPFramingError(.invalidCharacter, "control byte 0x\(hex(byte)) in the request head")
                }
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { break }
            guard bytes[index + 1] == Syntax.lf else {
                throw HTTPFramingError(.bareLineFeed, "line ends in a bare CR (CRLF required)")
            }
            let next = index + 2
            guard next <= maxHeaderBytes else { break }
            let line = Array(bytes[lineStart..<index])
            if let parsed = requestLine {
                if line.isEmpty {
                    return try HeadBuilder.build(parsed, fields: fields, headerLength: next)
                }
                guard fields.count < maxHeaders else {
                    throw HTTPFramingError(.tooManyHeaders, "more than \(maxHeaders) header fields")
                }
                fields.append(try parseField(line))
            } else {
                requestLine = try parseRequestLine(line)
            }
            lineStart = next
            index = next
        }
        // The blank line has not been seen inside the allowance.
        guard bytes.count < maxHeaderBytes else {
            throw HTTPFramingError(.headerTooLarge, "request head longer than \(maxHeaderBytes) bytes")
        }
        return nil
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}
