/// Strips secrets from a request path before it is written to an audit record.
///
/// Query values routinely carry tokens, keys and personal data, and audit records are read by
/// auditors and admins who must not see them (R25). Parameter names stay so a record still
/// says what kind of request it was. Fragments are dropped: a client should never send one,
/// and if it did, it is the part least like a path.
public enum QueryRedaction {
    /// The placeholder for every value.
    public static let placeholder = "…"

    /// "/a?x=1&y=secret&z#frag" → "/a?x=…&y=…&z".
    public static func path(_ path: String) -> String {
        let beforeFragment = path.prefix { $0 != "#" }
        guard let mark = beforeFragment.firstIndex(of: "?") else { return String(beforeFragment) }
        let query = beforeFragment[beforeFragment.index(after: mark)...]
        let parameters = query.split(separator: "&", omittingEmptySubsequences: false).map(redactValue)
        return String(beforeFragment[..<mark]) + "?" + parameters.joined(separator: "&")
    }

    /// "name=value" → "name=…"; a bare "name" has no value to hide.
    private static func redactValue(_ parameter: Substring) -> String {
        guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
        return String(parameter[..<equals]) + "=" + placeholder
    }
}
