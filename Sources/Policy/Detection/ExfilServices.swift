/// Rule 4: services that receive data for anyone who asks — paste sites, request bins and
/// webhooks, tunnels to a laptop, out-of-band testing (OAST) domains. The list follows
/// Elastic's "connection to commonly abused web services" rule and the Sigma file-sharing and
/// OAST lists; admins add their own (`detection.services`). An entry is a host (it and its
/// subdomains match) or a host and a path prefix (only requests under that path match).
public struct ExfilServices: Sendable {
    public static let builtIn = [
        // request bins and webhooks
        "webhook.site", "requestbin.com", "requestbin.net", "m.pipedream.net", "hookbin.com", "requestcatcher.com",
        "beeceptor.com", "webhook.cool", "httpbin.org", "postb.in", "ptsv2.com", "ptsv3.com", "hooks.slack.com",
        "discord.com/api/webhooks", "discordapp.com/api/webhooks", "api.telegram.org",
        "discord.com/api/v6/webhooks", "discord.com/api/v8/webhooks", "discord.com/api/v9/webhooks", "discord.com/api/v10/webhooks",
        // paste and file drops
        "pastebin.com", "paste.ee", "hastebin.com", "dpaste.com", "dpaste.org", "termbin.com", "ix.io", "sprunge.us",
        "rentry.co", "justpaste.it", "controlc.com", "pastes.io", "transfer.sh", "0x0.st", "file.io", "tmpfiles.org",
        "temp.sh", "bashupload.com", "gofile.io", "anonfiles.com", "filebin.net", "paste.c-net.org",
        // tunnels to a machine elsewhere
        "ngrok.io", "ngrok.app", "ngrok-free.app", "ngrok.dev", "trycloudflare.com", "loca.lt", "localtunnel.me",
        "serveo.net", "localhost.run", "lhr.life", "pinggy.io", "bore.pub",
        // out-of-band testing
        "interact.sh", "interactsh.com", "oast.fun", "oast.pro", "oast.live", "oast.site", "oast.online", "oast.me",
        "oastify.com", "burpcollaborator.net", "canarytokens.com", "canarytokens.org", "dnslog.cn", "ceye.io", "requestrepo.com",
        "dnslog.link", "xip.io", "nip.io",
    ]

    private struct Entry: Sendable {
        var host: String
        var pathPrefix: String?
    }

    private let entries: [Entry]

    public init(extra: [String] = []) {
        entries = (Self.builtIn + extra).compactMap { text in
            let parts = text.split(separator: "/", maxSplits: 1)
            guard let first = parts.first, let host = DomainName.normalize(first) else { return nil }
            return Entry(host: host, pathPrefix: parts.count == 2 ? "/" + parts[1] : nil)
        }
    }

    /// The entry `host` (and `path`, for a request) falls under; nil when none. For a DNS
    /// query or a TLS server name there is no path: only whole-host entries match.
    public func match(host: String, path: String? = nil) -> String? {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        for entry in entries where name == entry.host || name.hasSuffix("." + entry.host) {
            guard let prefix = entry.pathPrefix else { return entry.host }
            if let path, path.lowercased().hasPrefix(prefix) { return entry.host + prefix }
        }
        return nil
    }
}
