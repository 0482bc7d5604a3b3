import FoundationEssentials
import Glibc
import Policy
import Store
import WardenSystem

/// Where `warden audit stream` (and `warden serve --audit-stream`) delivers records:
/// - `file:PATH`: JSON Lines, rotated at `maxBytes` (PATH.1 … PATH.keep);
/// - `syslog` or `syslog:SOCKET`: RFC 5424 messages to the local syslog socket (/dev/log);
/// - `https://HOST/…`: batches POSTed to a collector (libcurl, certificates verified), whose host
///   the network policy must allow like any destination.
public enum AuditStreamTarget: Equatable, Sendable, CustomStringConvertible {
    case file(path: String, maxBytes: UInt64, keep: Int)
    case syslog(socket: String)
    case collector(url: String)

    /// `@FILE` reads the target from a file of Warden's own uid that no one else may read (a
    /// collector URL may carry a token or a password, and argv is public).
    public static func parse(_ given: String, maxBytes: UInt64 = 100 << 20, keep: Int = 5) throws(PolicyError) -> AuditStreamTarget {
        var text = given
        if given.hasPrefix("@") {
            let path = String(given.dropFirst())
            guard let file = try? FileDescriptor.open(path, O_RDONLY | O_NONBLOCK, resolve: .noLinks) else {
                throw PolicyError(.invalidValue, "\(path.prefix(80)): cannot be opened")
            }
            var st = stat()
            guard fstat(file.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o077 == 0,
                  let bytes = try? file.readAll(limit: 8192) else {
                throw PolicyError(.invalidValue, "\(path.prefix(80)): must be a regular file of uid \(geteuid()) that no one else may read or write (mode 0600)")
            }
            text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        }
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw PolicyError(.invalidValue, "\(text.prefix(80)): a file target needs an absolute path without ..")
            }
            guard maxBytes >= 4096 else { throw PolicyError(.invalidValue, "--max-size: at least 4K") }
            guard (1...100).contains(keep) else { throw PolicyError(.invalidValue, "--keep \(keep): expected 1 to 100 rotated files") }
            return .file(path: path, maxBytes: maxBytes, keep: keep)
        }
        if text == "syslog" { return .syslog(socket: "/dev/log") }
        if text.hasPrefix("syslog:") {
            let socket = String(text.dropFirst(7))
            guard socket.hasPrefix("/") else { throw PolicyError(.invalidValue, "\(text.prefix(80)): syslog:SOCKET needs the socket's absolute path") }
            return .syslog(socket: socket)
        }
        if text.hasPrefix("https://") {
            guard host(of: text) != nil else { throw PolicyError(.invalidValue, "\(text.prefix(80)): no host in the collector's URL") }
            return .collector(url: text)
        }
        throw PolicyError(.invalidValue, "\(text.prefix(80)): expected file:PATH, syslog, syslog:SOCKET or an https:// collector URL")
    }

    /// The collector URL's host (lower case, no port or user info).
    static func host(of url: String) -> String? {
        guard url.hasPrefix("https://") else { return nil }
        var authority = url.dropFirst(8).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let host = authority.hasPrefix("[") ? authority.prefix { $0 != "]" }.dropFirst() : authority.prefix { $0 != ":" }
        return host.isEmpty ? nil : host.lowercased()
    }

    static func port(of url: String) -> UInt16? {
        var authority = url.dropFirst(8).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") { authority = authority[authority.index(after: close)...] }
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        return UInt16(authority[authority.index(after: colon)...])
    }

    /// A collector must be a destination the organisation's network policy allows (a rule names
    /// it), as it would have to be for any sandbox: the audit stream is egress too.
    public func checkAllowed(by policy: OrgPolicy) throws(PolicyError) {
        guard case .collector(let url) = self, let host = Self.host(of: url) else { return }
        var network = policy.network
        network.mode = .allowlist
        let port = Self.port(of: url) ?? 443
        let address = IPAddress(host)
        guard let request = address.map({ EgressRequest(host: nil, address: $0, port: port) }) ?? EgressRequest(host: host, port: port) else {
            throw PolicyError(.invalidValue, "\(host): not a host name")
        }
        let decision = EgressPolicy(network: network).evaluate(request)
        guard decision.allowed else {
            throw PolicyError(.refused, "the collector \(host) is not an allowed host (add it with `warden-admin network allow add \(host)`): \(decision.rule)")
        }
    }

    /// The name its delivery position is kept under (of the whole target: two collectors that
    /// differ only in a token are two streams).
    public var cursorName: String {
        let whole: String = switch self {
        case .collector(let url): url
        default: description
        }
        return String(SHA256.hex(Array(whole.utf8)).prefix(16))
    }

    /// For messages: a collector's URL without its user information or query.
    public var description: String {
        switch self {
        case .file(let path, _, _): return "file:" + path
        case .syslog(let socket): return "syslog:" + socket
        case .collector(let url):
            var rest = Substring(AgentWebhook.redacted(url).dropFirst(8))
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
            return "https://" + rest
        }
    }
}

/// How each record is written: Warden's own JSON, or OCSF Network Activity.
public enum AuditStreamFormat: String, Sendable, CaseIterable {
    case jsonl
    case ocsf

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public func line(_ stored: StoredAuditRecord, encoder: JSONEncoder = AuditStreamFormat.encoder()) -> String {
        switch self {
        case .jsonl: return AuditJSON.line(stored)
        case .ocsf: return (try? encoder.encode(AuditOCSF(stored))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
    }
}
