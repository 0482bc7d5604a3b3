/// Host names as policy compares them: lower case ASCII, no trailing dot, LDH labels
/// (underscore allowed for service names), at most 253 bytes. Non-ASCII names must be written
/// in their punycode form (xn--…): two spellings of one name would be two policies.
public enum DomainName {
    /// The normalized name, or nil if `text` is not a valid host name.
    public static func normalize(_ text: some StringProtocol) -> String? {
        var bytes = Array(text.utf8)
        if bytes.last == 0x2E { bytes.removeLast() }
        guard !bytes.isEmpty, bytes.count <= 253 else { return nil }
        var labelLength = 0
        for index in bytes.indices {
            var byte = bytes[index]
            if byte >= 0x41 && byte <= 0x5A { byte |= 0x20; bytes[index] = byte }
            if byte == 0x2E {
                guard labelLength > 0, bytes[index - 1] != 0x2D else { return nil }
                labelLength = 0
                continue
            }
            let valid = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F
                || (byte == 0x2D && labelLength > 0)
            guard valid else { return nil }
            labelLength += 1
            guard labelLength <= 63 else { return nil }
        }
        guard labelLength > 0, bytes.last != 0x2D else { return nil }
        // A last label of digits (or 0x… hex) is an address in disguise (127.1, 2130706433,
        // 0x7f.0.0.1): resolvers and libc read these as IPv4. No real top-level domain is numeric.
        let last = bytes.suffix(labelLength)
        if last.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) || (last.starts(with: [0x30, 0x78]) && last.count > 2) { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A domain rule's target: one exact name (`pypi.org`) or every name under a suffix
/// (`*.example.com`: `a.example.com`, `a.b.example.com`, never `example.com` itself, nor
/// `badexample.com`, nor `example.com.evil.net`).
public enum DomainPattern: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    case wildcard(suffix: String)

    /// Parses a pattern. `forAllow` refuses patterns too broad to allow: `*`, a wildcard over a
    /// top-level domain (`*.com`) or over a public second-level suffix (`*.co.uk`).
    public static func parse(_ text: String, forAllow: Bool) throws(PolicyError) -> DomainPattern {
        if text == "*" {
            guard !forAllow else { throw PolicyError(.refused, "\"*\" is too broad for an allow rule; use network mode monitor or open instead") }
            return .wildcard(suffix: "")
        }
        if text.hasPrefix("*.") {
            guard let suffix = DomainName.normalize(text.dropFirst(2)) else {
                throw PolicyError(.invalidValue, "\"\(text)\": expected *.DOMAIN with a valid domain name")
            }
            if forAllow {
                let labels = suffix.split(separator: ".").count
                if labels < 2 || publicSuffixes.contains(suffix) || platformSuffixes.contains(where: { suffix.hasSuffix("." + $0) && suffix.split(separator: ".").count - $0.split(separator: ".").count < 2 }) {
                    throw PolicyError(.refused, "\"\(text)\" is too broad for an allow rule: it covers a whole public suffix; name the organisation's domain (*.example.com)")
                }
            }
            return .wildcard(suffix: suffix)
        }
        guard !text.contains("*") else {
            throw PolicyError(.invalidValue, "\"\(text)\": a wildcard is allowed only as a whole first label (*.example.com)")
        }
        guard let name = DomainName.normalize(text) else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected a domain name such as pypi.org or *.example.com")
        }
        guard IPAddress(name) == nil else {
            throw PolicyError(.invalidValue, "\"\(text)\" is an address; write it as a cidr rule")
        }
        return .exact(name)
    }

    /// Whether a normalized host name matches.
    public func matches(_ host: String) -> Bool {
        switch self {
        case .exact(let name): return host == name
        case .wildcard(let suffix):
            if suffix.isEmpty { return true }
            return host.utf8.count > suffix.utf8.count + 1 && host.hasSuffix("." + suffix)
        }
    }

    public var description: String {
        switch self {
        case .exact(let name): return name
        case .wildcard(let suffix): return suffix.isEmpty ? "*" : "*." + suffix
        }
    }

    /// Second-level suffixes under which unrelated organisations register names. A small
    /// fixed list: the common country-code ones and shared hosting platforms.
    static let publicSuffixes: Set<String> = [
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "com.au", "net.au", "org.au", "edu.au",
        "co.nz", "org.nz", "co.jp", "ne.jp", "or.jp", "co.kr", "or.kr", "com.br", "net.br", "org.br", "com.cn", "net.cn",
        "org.cn", "com.tw", "com.hk", "com.sg", "co.in", "net.in", "org.in", "co.za", "org.za", "com.mx", "com.ar",
        "com.tr", "com.ru", "co.il", "co.id", "com.my", "com.ph", "com.vn", "com.ua", "com.pl", "com.es", "co.it",
        "github.io", "gitlab.io", "herokuapp.com", "netlify.app", "vercel.app", "pages.dev", "workers.dev",
        "appspot.com", "azurewebsites.net", "cloudfront.net", "amazonaws.com", "blogspot.com", "ngrok.io",
        "ngrok-free.app", "trycloudflare.com", "webhook.site", "pipedream.net", "repl.co", "glitch.me", "fly.dev",
        "onrender.com", "railway.app", "web.app", "firebaseapp.com", "duckdns.org", "no-ip.org",
        "s3.amazonaws.com", "uk.com", "us.com", "eu.com", "cn.com", "co.com", "gb.net", "r2.dev", "blob.core.windows.net",
        "web.core.windows.net", "azureedge.net", "googleusercontent.com", "storage.googleapis.com", "pythonanywhere.com",
        "surge.sh", "deno.dev", "cloudflareworkers.com", "ngrok.app", "loca.lt", "serveo.net", "requestbin.net", "oast.fun",
        "interact.sh", "burpcollaborator.net",
    ]

    /// Hosting platforms whose regional or service subdomains are themselves shared
    /// (`*.s3.us-east-1.amazonaws.com`): a wildcard needs a label of the customer's own below them.
    static let platformSuffixes = ["amazonaws.com", "cloudfront.net", "azurewebsites.net", "appspot.com", "googleapis.com"]
}
