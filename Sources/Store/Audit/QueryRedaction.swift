/// Strips secrets from a request path before it is written to an audit record.
///
/// Query values routinely carry tokens, keys and personal data, and audit records are read by
/// auditors and admins who must not see them (R25). Parameter names stay so a record still
/// says what kind of request it was. Fragments are dropped: a client should never send one,
/// and if it did, it is the part least like a path.
public enum QueryRedaction {
    /// The placeholder for every value.
    public static let placeholder = "…"

    /// "/a?x=1&y=secret&z#frag" → "/a?x=…&y=…&z". One pass over the bytes: every stored
    /// record goes through it (the audit store applies it to every path it writes).
    public static func path(_ path: String) -> String {
        let utf8 = path.utf8
        guard let mark = utf8.firstIndex(where: { $0 == 0x3F || $0 == 0x23 }) else { return path }
        var output: [UInt8] = []
        output.reserveCapacity(utf8.count + 8)
        output += utf8[..<mark]
        guard utf8[mark] == 0x3F else { return String(decoding: output, as: UTF8.self) }  // a fragment only: dropped
        output.append(0x3F)
        var inValue = false
        for byte in utf8[utf8.index(after: mark)...] {
            if byte == 0x23 { break }  // the fragment and what follows it are dropped
            if byte == 0x26 {
                inValue = false
                output.append(byte)
            } else if inValue {
                continue
            } else if byte == 0x3D {
                inValue = true
                output.append(byte)
                output += placeholderBytes
            } else {
                output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static let placeholderBytes = Array(placeholder.utf8)
}
