import Glibc
import Policy
import Store
import WardenSystem

/// What a connection to the explicit proxy asked for, and what the guard found for it.
struct ProxyTarget {
    /// Lower-cased, without a trailing dot; an IPv6 literal without brackets.
    var host = ""
    var port: UInt16 = 0
    /// CONNECT (a tunnel) rather than absolute-form requests forwarded one by one.
    var tunnel = false
    /// The request that named the destination, for its record.
    var request: HTTPRequestHead?
    var lookupsPending = 0
    var addresses: [IPAddress] = []
    /// The guard's resolver refused a lookup (denied name, rebinding): 403, not 502.
    var refusedByResolver = false
    /// An address was chosen; `destination` holds it.
    var resolved = false
}

/// The explicit proxy's request forms (RFC 9112 §3.2): CONNECT host:port, or an absolute
/// http:// URI, which is forwarded in origin-form without the proxy's own headers.
enum ProxyRequest {
    static func target(_ head: HTTPRequestHead) -> ProxyTarget? {
        guard let host = head.host.map({ Connection.trimDot($0.lowercased()) }), !host.isEmpty else { return nil }
        if head.method == "CONNECT" {
            guard let port = head.port, port > 0 else { return nil }
            return ProxyTarget(host: host, port: port, tunnel: true, request: head)
        }
        guard head.target.utf8.count > 7, head.target.prefix(7).lowercased() == "http://" else { return nil }
        return ProxyTarget(host: host, port: head.port ?? 80, tunnel: false, request: head)
    }

    /// The head as the origin server gets it: origin-form request line, and no
    /// Proxy-Connection or Proxy-Authorization header (they are for the proxy alone).
    static func originForm(_ head: HTTPRequestHead, raw: ArraySlice<UInt8>) -> [UInt8] {
        let bytes = Array(raw)
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 0x0D && bytes[index + 1] == 0x0A {
                lines.append(bytes[start..<index])
                start = index + 2
                index += 2
            } else {
                index += 1
            }
        }
        var out = Array("\(head.method) \(head.path) HTTP/1.\(head.minorVersion)\r\n".utf8)
        // HTTP/1.0 may leave Host out; the origin must still learn the name that was judged.
        if !head.headers.contains(where: { $0.name.lowercased() == "host" }), let host = head.host {
            let name = host.contains(":") ? "[\(host)]" : host
            out += Array("Host: \(name)\(head.port.map { ":\($0)" } ?? "")\r\n".utf8)
        }
        for line in lines.dropFirst() where !line.isEmpty {
            let name = String(decoding: line.prefix { $0 != UInt8(ascii: ":") }, as: UTF8.self).lowercased()
            if name == "proxy-connection" || name == "proxy-authorization" { continue }
            out += line
            out += [0x0D, 0x0A]
        }
        out += [0x0D, 0x0A]
        return out
    }
}

/// The explicit proxy (HTTP_PROXY/HTTPS_PROXY) for programs that prefer one: the request names
/// the destination, the guard judges the name (a refused name is never looked up, R23),
/// resolves it through the sandbox's own resolver path (so the answer is checked for rebinding
/// and remembered, R20), and from then on the connection is judged like a captured one: TLS
/// by its ClientHello (whose name must be the CONNECT host), plain HTTP request by request
/// (each must name the same host and port).
extension Connection {
    /// Reads the request that names the destination. Returns true when something changed.
    func readProxyRequest(now: UInt64) -> Bool {
        guard let n = readClient(limit: limits.maxHeaderBytes) else { return false }
        if n == 0 {
            clientDone = true
            close(now: now, note: "closed by the program before its proxy request")
            return true
        }
        kind = .http
        let peek = inbound.withUnsafeBytes { HTTPRequestParser.parse($0, maxHeaderBytes: limits.maxHeaderBytes, maxHeaders: limits.maxHeaders) }
        switch peek {
        case .needMore:
            if inbound.count >= limits.maxHeaderBytes {
                refuseHTTP(.deny("http.framing", "the proxy request head is longer than \(limits.maxHeaderBytes) bytes"), now: now, recorded: false)
            }
        case .notHTTP:
            refuseHTTP(.deny("proxy.request", "the proxy speaks HTTP/1.x: CONNECT host:port, or a request to an absolute http:// URI"), now: now, recorded: false)
        case .refused(let error):
            refuseHTTP(.deny("http.framing", error.message), now: now, recorded: false)
        case .request(let head):
            startProxy(head, now: now)
        }
        return true
    }

    private func startProxy(_ head: HTTPRequestHead, now: UInt64) {
        guard var target = ProxyRequest.target(head) else {
            let verdict = Verdict.deny("proxy.request", "a request to the proxy must name its destination: CONNECT host:port or an absolute http:// URI")
            _ = recordRequest(head, verdict, now: now)
            refuseHTTP(verdict, now: now, recorded: true)
            return
        }
        if target.tunnel { inbound.removeFirst(head.headerLength) }
        if let literal = IPAddress(target.host) {
            target.addresses = [literal]
            proxy = target
            proxyResolved(now: now)
            return
        }
        proxy = target
        var verdict = owner.judge.judgeName(target.host)
        verdict.nameSource = .host
        guard verdict.allowed else {
            // Refused by name: never looked up, never dialled.
            _ = recordRequest(head, verdict, now: now)
            refuseHTTP(verdict, now: now, recorded: true)
            return
        }
        phase = .resolving
        deadline = now + (limits.dnsTimeoutMilliseconds + 1_000) * 1_000_000
        owner.lookup(target.host, for: self, now: now)
    }

    /// One of the guard's lookups for the proxy came back (answer, refusal or failure).
    func lookupAnswered(_ bytes: [UInt8], now: UInt64) {
        guard phase == .resolving, var target = proxy else { return }
        target.lookupsPending -= 1
        if let response = bytes.withUnsafeBytes({ DNSMessageParser.parseResponse($0) }) {
            if response.rcode == 5 { target.refusedByResolver = true }
            for answer in response.answers {
                switch answer.data {
                case .a(let raw), .aaaa(let raw):
                    if let address = SocketAddress.fromBytes(raw) { target.addresses.append(address) }
                default: break
                }
            }
        }
        proxy = target
        guard target.lookupsPending <= 0 else { return }
        proxyResolved(now: now)
        // Called from the resolver, not from this connection's events: do what can be done
        // now and set the interest for what comes next.
        advance(now: now)
    }

    /// The host's addresses are known: IPv4 first, as most clients prefer; then the
    /// connection goes on as a tunnel or a forwarded request.
    private func proxyResolved(now: UInt64) {
        guard var target = proxy else { return }
        // One refused answer (rebinding in A or AAAA) refuses the name, whatever the other said.
        if target.refusedByResolver { target.addresses = [] }
        let chosen = target.addresses.first { if case .v4 = $0 { return true } else { return false } } ?? target.addresses.first
        guard let chosen else {
            if target.refusedByResolver {
                refuseHTTP(.deny("proxy.dns-refused", "the guard's resolver refused \(target.host) (its dns record says why)", name: target.host, source: .host),
                           now: now, recorded: false)
            } else {
                upstreamFailed("\(target.host) has no address", now: now)
            }
            return
        }
        destination = SocketAddress(chosen, target.port)
        target.resolved = true
        proxy = target
        guard target.tunnel else {
            phase = .open
            upward = .http
            deadline = 0
            processHTTP(now: now)
            return
        }
        let claimed = IPAddress(target.host) == nil ? target.host : nil
        var verdict = owner.judge.judge(ConnectionFacts(destination: destination, claimedName: claimed, nameSource: claimed == nil ? .none : .host))
        if verdict.allowed && !owner.recorder.mayAllow {
            verdict = .deny("audit.unavailable", "audit records cannot be written; egress is refused (R19)", name: verdict.name, source: verdict.nameSource)
        }
        guard verdict.allowed else {
            if let request = target.request { _ = recordRequest(request, verdict, now: now) }
            refuseHTTP(verdict, now: now, recorded: target.request != nil)
            return
        }
        // The tunnel is open; what the program sends through it is judged as if captured.
        let established = Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)
        _ = established.withUnsafeBytes { send(client.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
        kind = .unknown
        phase = .peeking
        peekingSince = now
        deadline = now + limits.headerTimeoutMilliseconds * 1_000_000
        if !inbound.isEmpty { classify(now: now) }
    }

    /// Refuses what a proxied connection carries when it is not what the proxy request named:
    /// inside a CONNECT tunnel, a TLS server name or Host other than the CONNECT host (R22);
    /// on a forwarding connection, a request for another authority or not in absolute-form.
    func proxyRefusal(claimedName: String?) -> Verdict? {
        guard let proxy, proxy.tunnel, let claimed = claimedName.map({ Self.trimDot($0.lowercased()) }), claimed != proxy.host else { return nil }
        return .deny("proxy.name-mismatch", "the connection names \(claimed.prefix(80)) but CONNECT named \(proxy.host) (R22)", name: claimed, source: .host)
    }

    func proxyRefusal(_ head: HTTPRequestHead) -> Verdict? {
        guard let proxy else { return nil }
        if proxy.tunnel { return proxyRefusal(claimedName: head.host) }
        guard let asked = ProxyRequest.target(head) else {
            return .deny("proxy.request", "a request to the proxy must be in absolute form (http://host/path)", name: head.host, source: .host)
        }
        guard asked.host == proxy.host, asked.port == proxy.port else {
            return .deny("proxy.authority-change", "this proxy connection was opened for \(proxy.host):\(proxy.port); a request for \(asked.host.prefix(80)):\(asked.port) needs its own connection",
                         name: asked.host, source: .host)
        }
        return nil
    }
}
