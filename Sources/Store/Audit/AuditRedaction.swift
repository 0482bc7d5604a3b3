/// What an audit record may not keep, applied where records are stored (R25). Always: query
/// values in paths and in any URL or path a reason or detail quotes, and the values of
/// credential headers (Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key)
/// wherever one is quoted. For privacy-mode agents also the path itself and paths quoted in
/// reasons: such records keep destinations (name, address, port, method) and decisions only.
public struct AuditRedaction: Sendable {
    public var privateContent: Bool

    public init(privateContent: Bool = false) {
        self.privateContent = privateContent
    }

    public static let withheld = "(withheld: privacy mode)"
    static let credentialHeaders = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"]

    public func apply(_ record: AuditRecord) -> AuditRecord {
        var record = record
        record.path = privateContent ? "" : QueryRedaction.path(record.path)
        record.reason = text(record.reason)
        record.detail = text(record.detail)
        return record
    }

    /// Free text: each credential header's value up to the end of its line (or `;`), and each
    /// word that holds a query (`…?name=value`) or, in privacy mode, is a path.
    func text(_ text: String) -> String {
        let bytes = text.utf8
        // Fast paths: nothing that could hold a query, a header or a path; a colon that ends
        // no credential header's name.
        guard bytes.contains(where: { $0 == 0x3F || $0 == 0x3A || (privateContent && $0 == 0x2F) }) else { return text }
        var result = Self.mayHoldCredentialHeader(bytes) ? Self.credentialValues(text) : text
        guard result.utf8.contains(0x3F) || privateContent else { return result }
        result = result.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
            if privateContent, word.first == "/" || word.contains("://") { return Self.withheld }
            guard word.contains("?"), word.contains("=") else { return String(word) }
            return QueryRedaction.path(String(word))
        }.joined(separator: " ")
        return result
    }

    /// Each credential header's value, as a header line (`Cookie: a=1; b=2`, to the end of the
    /// line) or as JSON (`"Authorization": "Bearer x"`, to the closing quote), becomes "…".
    static func credentialValues(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let lower = bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        scan: while index < bytes.count {
            // A header name starts a word: "x-authorization" is not "authorization".
            if index == 0 || !Self.isNameByte(lower[index - 1]) {
                for header in headerBytes where index + header.count <= bytes.count && lower[index..<(index + header.count)].elementsEqual(header) {
                    var end = index + header.count
                    if end < bytes.count && bytes[end] == 0x22 { end += 1 }  // the name's closing quote (JSON)
                    while end < bytes.count && bytes[end] == 0x20 { end += 1 }
                    guard end < bytes.count && bytes[end] == 0x3A else { continue }
                    end += 1
                    while end < bytes.count && bytes[end] == 0x20 { end += 1 }
                    output += bytes[index..<end]
                    if end < bytes.count && bytes[end] == 0x22 {
                        // A JSON string: up to its closing quote (escaped quotes skipped).
                        var close = end + 1
                        while close < bytes.count && bytes[close] != 0x22 { close += bytes[close] == 0x5C ? 2 : 1 }
                        output.append(0x22)
                        output += Array(QueryRedaction.placeholder.utf8)
                        index = min(close, bytes.count)
                    } else {
                        output += Array(QueryRedaction.placeholder.utf8)
                        index = end
                        while index < bytes.count && bytes[index] != 0x0A { index += 1 }
                    }
                    continue scan
                }
            }
            output.append(bytes[index])
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static let headerBytes = credentialHeaders.map { Array($0.utf8) }

    /// Whether some colon follows the last letters of a credential header's name ("…tion:",
    /// "…kie:", "…key:", also with a closing quote and spaces between), without copying.
    static func mayHoldCredentialHeader(_ bytes: String.UTF8View) -> Bool {
        var last: (UInt8, UInt8, UInt8) = (0, 0, 0)
        for byte in bytes {
            if byte == 0x3A {
                switch last {
                case (0x69, 0x6F, 0x6E), (0x6B, 0x69, 0x65), (0x6B, 0x65, 0x79): return true  // "ion", "kie", "key"
                default: break
                }
            }
            // Quotes and spaces between a name and its colon are passed over.
            if byte == 0x22 || byte == 0x20 { continue }
            let lower = byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte
            last = (last.1, last.2, lower)
        }
        return false
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
    }
}
