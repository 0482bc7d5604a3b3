/// The Public Suffix List (publicsuffix.org), for registered domains (eTLD+1): `a.b.example.co.uk`
/// belongs to `example.co.uk`, `x.user.github.io` to `user.github.io`. Detection groups names by
/// registered domain; taking the last two labels instead would lump every `*.co.uk` together.
/// Parsed from the list's text (Debian: /usr/share/publicsuffix/public_suffix_list.dat), ICANN
/// and private sections both, with the list's own algorithm: the longest matching rule wins,
/// an exception rule (`!www.ck`) beats its wildcard (`*.ck`), and an unlisted TLD is a suffix.
public struct PublicSuffixList: Sendable {
    private var rules: Set<String> = []
    /// `*.ck` is kept as `ck`: any one label to its left is a public suffix.
    private var wildcards: Set<String> = []
    private var exceptions: Set<String> = []

    public var count: Int { rules.count + wildcards.count + exceptions.count }

    /// Debian's copy of the list.
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// Parsed over the bytes, making strings only for rules: this runs when a guarded sandbox
    /// is prepared (String splitting took ≈40 ms for the list's 10,000 lines there).
    public init(text: String) {
        var text = text
        text.withUTF8 { bytes in
            rules.reserveCapacity(10_000)
            var index = 0
            let count = bytes.count
            while index < count {
                // A rule is the line's first word; comments start with //.
                while index < count && (bytes[index] == 0x20 || bytes[index] == 0x09) { index += 1 }
                let start = index
                while index < count && bytes[index] != 0x0A && bytes[index] != 0x0D && bytes[index] != 0x20 && bytes[index] != 0x09 { index += 1 }
                let end = index
                while index < count && bytes[index] != 0x0A { index += 1 }
                index += 1
                guard end > start, !(end - start >= 2 && bytes[start] == 0x2F && bytes[start + 1] == 0x2F) else { continue }
                var word = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                if word.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) || !word.utf8.allSatisfy({ $0 < 0x80 }) { word = word.lowercased() }
                if word.hasPrefix("!") {
                    exceptions.insert(String(word.dropFirst()))
                } else if word.hasPrefix("*.") {
                    wildcards.insert(String(word.dropFirst(2)))
                } else {
                    rules.insert(word)
                }
            }
        }
    }

    /// The public suffix of a host name (lower-cased, without a trailing dot).
    public func publicSuffix(of host: String) -> String {
        let labels = Self.labels(host)
        guard !labels.isEmpty else { return "" }
        for start in labels.indices {
            let candidate = labels[start...].joined(separator: ".")
            if exceptions.contains(candidate) { return labels[(start + 1)...].joined(separator: ".") }
            if rules.contains(candidate) { return candidate }
            if start + 1 < labels.count, wildcards.contains(labels[(start + 1)...].joined(separator: ".")) { return candidate }
        }
        return labels[labels.count - 1]
    }

    /// The registered domain (public suffix plus one label); nil when the name is itself a
    /// public suffix.
    public func registeredDomain(of host: String) -> String? {
        let labels = Self.labels(host)
        let suffixCount = publicSuffix(of: host).split(separator: ".").count
        guard labels.count > suffixCount else { return nil }
        return labels[(labels.count - suffixCount - 1)...].joined(separator: ".")
    }

    private static func labels(_ host: String) -> [String] {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
}
