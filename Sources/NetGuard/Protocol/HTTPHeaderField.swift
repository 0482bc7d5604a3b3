extension HTTPRequestParser {
    /// RFC 9112 §5: `field-name ":" OWS field-value OWS`, with the lenient readings that enable
    /// smuggling (obs-fold, whitespace before the colon) refused.
    static func parseField(_ line: [UInt8]) throws(HTTPFramingError) -> HTTPHeader {
        guard let first = line.first, !Syntax.isWhitespace(first) else {
            throw HTTPFramingError(.obsoleteLineFolding, "header line starts with whitespace (obs-fold)")
        }
        guard let colon = line.firstIndex(of: Syntax.colon) else {
            throw HTTPFramingError(.invalidCharacter, "header line has no colon")
        }
        let name = line[..<colon]
        guard !name.isEmpty else { throw HTTPFramingError(.invalidCharacter, "header line has an empty field name") }
        if let last = name.last, Syntax.isWhitespace(last) {
            throw HTTPFramingError(.whitespaceBeforeColon, "whitespace between field name and colon")
        }
        guard name.allSatisfy(Syntax.isTChar) else {
            throw HTTPFramingError(.invalidCharacter, "field name is not a token")
        }
        let rawValue = Syntax.trimmingWhitespace(line[(colon + 1)...])
        if let bad = rawValue.first(where: { Syntax.isControl($0) && $0 != Syntax.tab }) {
            throw HTTPFramingError(.invalidCharacter, "control byte 0x\(hex(bad)) in a field value")
        }
        // obs-text is kept only as valid UTF-8: a lossy decode would let policy see other text.
        guard let value = String(validating: rawValue, as: UTF8.self) else {
            throw HTTPFramingError(.invalidCharacter, "field value is not valid UTF-8")
        }
        return HTTPHeader(name: String(decoding: name, as: UTF8.self), value: value)
    }
}
