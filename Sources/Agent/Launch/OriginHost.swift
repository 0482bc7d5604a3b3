import Policy

/// The host an agent's origin repository lives on, for detection's push exemption: the
/// agent's own branch goes there, so uploads to it are expected. URL forms (`https://`,
/// `http://`, `ssh://`, `git://`) and scp-like `user@host:path`; a local path has no host.
enum OriginHost {
    static func of(_ repository: String) -> String? {
        let rest = Substring(repository)
        let parts = repository.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        if parts.count >= 3, parts[0].hasSuffix(":"), parts[1].isEmpty, !parts[0].dropLast().isEmpty,
           parts[0].dropLast().allSatisfy({ $0.isLetter || $0 == "+" }) {
            return host(in: parts[2])
        }
        // scp-like: [user@]host:path, with no slash before the colon.
        guard !rest.hasPrefix("/"), !rest.hasPrefix("."), let colon = rest.firstIndex(of: ":") else { return nil }
        let head = rest[..<colon]
        guard !head.contains("/") else { return nil }
        return host(in: head)
    }

    private static func host(in authority: Substring) -> String? {
        var text = authority
        if let at = text.lastIndex(of: "@") { text = text[text.index(after: at)...] }
        if text.hasPrefix("[") { return nil }
        if let colon = text.firstIndex(of: ":") { text = text[..<colon] }
        return DomainName.normalize(text)
    }
}
