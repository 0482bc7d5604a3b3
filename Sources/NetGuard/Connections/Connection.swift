import Glibc
import Policy
import Store
import WardenSystem

/// One TCP connection the sandbox opened, from accept to close: what the program sent first
/// (peeked to learn the name), the verdict, the upstream dialled for it, and the two
/// directions relayed. Plain HTTP is followed request by request (every request judged,
/// R22); TLS and other protocols are spliced once allowed. A connection to the explicit proxy
/// first names its destination (CONNECT or an absolute URI), which the guard resolves itself,
/// and from then on is judged exactly like a captured one. Runs only on its guard's thread.
final class Connection {
    enum Phase {
        /// Explicit proxy: reading the request that names the destination.
        case proxyRequest
        /// Explicit proxy: waiting for the guard's own DNS lookups of the named host.
        case resolving
        /// Reading what the program sends first, to learn what it is and where it goes.
        case peeking
        /// Allowed; the upstream connect is in progress.
        case connecting
        case open
        /// Refused with a reply (403): reading and dropping what the client still sends so
        /// the reply is not lost to a reset, until it closes or the deadline passes.
        case draining
        case closed
    }

    /// How bytes from the program are handled.
    enum Upward {
        case peek
        /// Request heads parsed and judged one by one; bodies framed by Content-Length/chunked.
        case http
        /// Spliced as they come (TLS, other protocols, an upgraded WebSocket).
        case opaque
        /// HTTP/2 inside inspected TLS: frames read, every request's header block judged.
        case http2
    }

    enum StreamKind: String {
        case unknown, tls, http, opaque
    }

    let id: Int
    unowned let owner: SandboxGuard
    let client: FileDescriptor
    var upstream: FileDescriptor?
    /// Where the connection goes: the original destination of a captured connection; for the
    /// explicit proxy, the address the guard resolved for the named host (once `proxy` has one).
    var destination: SocketAddress
    /// Set for connections to the explicit proxy.
    var proxy: ProxyTarget?
    let acceptedAt: UInt64
    /// When the wait for the program's first bytes began (for the explicit proxy: when the tunnel opened).
    var peekingSince: UInt64
    var phase = Phase.peeking
    var upward = Upward.peek
    var kind = StreamKind.unknown
    /// Bytes from the client not yet handled (peek buffer, partial request heads, chunked data).
    var inbound: [UInt8] = []
    /// Bytes for the upstream, waiting for it to be writable.
    var pendingUp: [UInt8] = []
    var upPipe: SplicePipe?
    var downPipe: SplicePipe?
    var http = HTTPStream()
    var clientDone = false
    var upstreamDone = false
    var upShut = false
    var downShut = false
    /// When the current wait (head, connect, drain) ends; 0: none.
    var deadline: UInt64 = 0
    var lastActivity: UInt64
    var bytesUp: Int64 = 0
    var bytesDown: Int64 = 0
    /// The verdict that opened the connection (for HTTP: its first request's).
    var verdict: Verdict?
    var detail: [String] = []
    var clientInterest: UInt32 = 0
    var upstreamInterest: UInt32 = 0
    /// A WebSocket upgrade was forwarded: the next response decides whether the stream stays HTTP.
    var awaitingUpgrade = false
    /// Set while the guard terminates this connection's TLS (inspection).
    var tls: TLSInterception?
    /// The ClientHello offered application protocols (ALPN), HTTP/2 among them.
    var clientOfferedProtocols = false
    var clientOffersHTTP2 = false
    /// Detection: the connection-level rules have run; the flags raised on this connection;
    /// the body of the current request being scanned; upload volume already judged.
    var connectionDetected = false
    var flags: [String] = []
    var bodyScan: BodyScan?
    /// HTTP/2: the body scan of each open stream.
    var streamScans: [UInt32: BodyScan] = [:]
    var nextUploadCheck: Int64 = 0

    init(id: Int, owner: SandboxGuard, client: FileDescriptor, destination: SocketAddress, explicitProxy: Bool = false, now: UInt64) {
        self.id = id
        self.owner = owner
        self.client = client
        self.destination = destination
        if explicitProxy {
            proxy = ProxyTarget()
            phase = .proxyRequest
        }
        acceptedAt = now
        peekingSince = now
        lastActivity = now
        deadline = now + owner.limits.headerTimeoutMilliseconds * 1_000_000
    }

    var limits: GuardLimits { owner.limits }

    // MARK: - Events

    func handle(fd: Int32, events: UInt32, now: UInt64) {
        if phase == .connecting, fd == upstream?.raw, events & (EventLoop.writable | EventLoop.hangup) != 0 {
            finishConnect(now: now)
        }
        advance(now: now)
    }

    /// Does all the work that can be done without blocking, then updates the interest.
    func advance(now: UInt64) {
        var rounds = 0
        while rounds < 32 && phase != .closed {
            rounds += 1
            var progressed = false
            switch phase {
            case .proxyRequest: progressed = readProxyRequest(now: now)
            case .resolving: break
            case .peeking: progressed = peek(now: now)
            case .connecting: progressed = tls != nil && pumpTLS(now: now)
            case .open:
                if tls != nil {
                    progressed = pumpTLS(now: now)
                } else {
                    progressed = pumpUp(now: now)
                    if phase == .open { progressed = pumpDown(now: now) || progressed }
                }
                if phase == .open && finishedBothWays { close(now: now, note: nil) }
            case .draining: progressed = drainClient(now: now)
            case .closed: break
            }
            if !progressed { break }
            lastActivity = now
        }
        if phase != .closed { updateInterest() }
    }

    private var finishedBothWays: Bool {
        upShut && downShut && pendingUp.isEmpty && (upPipe?.held ?? 0) == 0 && (downPipe?.held ?? 0) == 0
    }

    /// Called by the guard's sweep: deadlines and idle connections.
    func sweep(now: UInt64) {
        switch phase {
        case .proxyRequest:
            if now >= deadline {
                refuseHTTP(.deny("limits.header-timeout", "the proxy request did not arrive within \(limits.headerTimeoutMilliseconds) ms (slow client)"), now: now, recorded: false)
            }
        case .resolving:
            // The lookups have their own deadline; this one only guards against a lost answer.
            if now >= deadline { upstreamFailed("the lookup of \(proxy?.host ?? "") did not finish", now: now) }
        case .peeking:
            if inbound.isEmpty && now - peekingSince >= limits.firstByteMilliseconds * 1_000_000 && waitsForFirstBytes() {
                // A connection opened ahead of use (a pool): it may only speak HTTP or TLS, so
                // the guard waits for it, up to the idle limit, without dialling anything.
                if now - peekingSince >= limits.idleTimeoutMilliseconds * 1_000_000 {
                    close(now: now, note: "nothing sent within \(limits.idleTimeoutMilliseconds / 1000) s")
                }
            } else if inbound.isEmpty && now - peekingSince >= limits.firstByteMilliseconds * 1_000_000 {
                // Nothing sent: judged by address (a server-speaks-first protocol).
                kind = .opaque
                decideStream(ConnectionFacts(destination: destination, claimedName: nil, nameSource: .none), now: now)
                advance(now: now)
            } else if now >= deadline {
                refuseStream(.deny("limits.header-timeout", "the connection did not finish its \(kind == .tls ? "ClientHello" : "first bytes") within \(limits.headerTimeoutMilliseconds) ms (slow client)"), now: now)
            }
        case .connecting:
            if now >= deadline { upstreamFailed("connect timed out after \(limits.connectTimeoutMilliseconds) ms", now: now) }
        case .open:
            if let tls, !tls.established, deadline != 0, now >= deadline {
                verdict = verdict?.allowed == false ? verdict : .deny("limits.tls-handshake", "the TLS handshakes with \(tls.serverName) did not finish within \(limits.headerTimeoutMilliseconds) ms",
                                                                   name: tls.serverName, source: .sni)
                close(now: now, note: nil)
            } else if let started = http.headStartedAt, now - started >= limits.headerTimeoutMilliseconds * 1_000_000, upward == .http2 {
                close(now: now, note: "an HTTP/2 frame did not complete within \(limits.headerTimeoutMilliseconds) ms (slow client)")
            } else if let started = http.headStartedAt, now - started >= limits.headerTimeoutMilliseconds * 1_000_000 {
                refuseHTTP(.deny("limits.header-timeout", "the request head did not arrive within \(limits.headerTimeoutMilliseconds) ms (slow client)"), now: now, recorded: false)
            } else if now - lastActivity >= limits.idleTimeoutMilliseconds * 1_000_000 {
                close(now: now, note: "closed after \(limits.idleTimeoutMilliseconds / 1000) s idle")
            }
        case .draining:
            if now >= deadline { close(now: now, note: nil) }
        case .closed: break
        }
    }

    // MARK: - Reading the client

    /// Reads what the client has into `inbound`, up to `limit` buffered bytes in all.
    /// Returns the bytes read, 0 at end of stream, nil when nothing is there.
    func readClient(limit: Int, chunk: Int = 16_384) -> Int? {
        let room = max(0, limit - inbound.count)
        guard room > 0 else { return nil }
        let want = min(room, chunk)
        if inbound.isEmpty {
            // Read straight into a fresh buffer: no zero-filling, and a body can then be
            // handed on whole (`processHTTP` moves it rather than copying it).
            var n = 0
            inbound = [UInt8](unsafeUninitializedCapacity: want) { buffer, initialized in
                n = recv(client.raw, buffer.baseAddress, want, Int32(MSG_DONTWAIT))
                initialized = max(0, n)
            }
            if n > 0 { return n }
            if n == 0 { return 0 }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return nil }
            return 0
        }
        let start = inbound.count
        inbound.append(contentsOf: repeatElement(0, count: want))
        let n = inbound.withUnsafeMutableBytes { recv(client.raw, $0.baseAddress! + start, want, Int32(MSG_DONTWAIT)) }
        inbound.removeLast(want - max(0, n))
        if n > 0 { return n }
        if n == 0 { return 0 }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return nil }
        return 0
    }

    // MARK: - Verdicts

    /// Judges a stream (TLS or other) and dials or refuses it.
    func decideStream(_ facts: ConnectionFacts, now: UInt64) {
        var facts = facts
        if kind == .tls, owner.tls != nil, !facts.encryptedClientHello, let name = facts.claimedName, IPAddress(name) == nil {
            facts.inspected = owner.judge.policy.tlsTreatment(host: name, address: facts.destination.address) == .inspect
        }
        var verdict = proxyRefusal(claimedName: facts.claimedName) ?? owner.judge.judge(facts)
        if verdict.allowed, let refusal = opaqueRefusal(verdict, facts, kind: kind) { verdict = refusal }
        verdict = detectConnection(verdict, serverName: kind == .tls ? facts.claimedName : nil, now: now)
        if verdict.allowed && !owner.recorder.mayAllow {
            verdict = .deny("audit.unavailable", "audit records cannot be written (\(owner.recorder.failure ?? "")); egress is refused (R19)", name: verdict.name, source: verdict.nameSource)
        }
        self.verdict = verdict
        guard verdict.allowed else {
            refuseStream(verdict, now: now)
            return
        }
        if facts.inspected, let name = facts.claimedName {
            startInspection(serverName: name.lowercased(), now: now)
            return
        }
        if kind == .tls {
            let excluded = owner.judge.policy.tlsTreatment(host: verdict.name, address: destination.address) == .excluded
            detail.append(owner.tls == nil ? "tls=not inspected (inspection off)" : excluded ? "tls=excluded (tunnelled opaquely)" : "tls=opaque (cannot be inspected)")
        }
        pendingUp = inbound
        inbound = []
        upward = .opaque
        dial(now: now)
    }

    /// With inspection on, in allowlist mode, only destinations on the TLS exclusion list are
    /// relayed without being read (R22): any other stream the guard cannot inspect (TLS it
    /// cannot terminate, a protocol that is neither HTTP nor TLS) is refused.
    func opaqueRefusal(_ verdict: Verdict, _ facts: ConnectionFacts, kind: StreamKind) -> Verdict? {
        guard owner.tls != nil, owner.judge.mode == .allowlist, !facts.inspected, kind == .tls || kind == .opaque else { return nil }
        guard owner.judge.policy.tlsTreatment(host: verdict.name, address: facts.destination.address) != .excluded else { return nil }
        let what = kind == .tls ? "a TLS connection the guard cannot inspect" : "a stream that is neither HTTP nor TLS"
        return .deny("tls.opaque", "\(what) to \(verdict.name ?? "\(facts.destination.address)") would pass unread; in allowlist mode only destinations on the TLS exclusion list (network.tls.exclude) are tunnelled opaquely (R22)",
                     name: verdict.name, source: verdict.nameSource)
    }

    /// Whether a connection that has sent nothing yet must wait for its first bytes rather
    /// than be judged as a server-speaks-first stream: where such a stream would be refused
    /// as opaque (allowlist mode, inspection on, destination not excluded) but the address is
    /// allowed, it can still become HTTP or TLS.
    func waitsForFirstBytes() -> Bool {
        guard owner.tls != nil, owner.judge.mode == .allowlist else { return false }
        let facts = ConnectionFacts(destination: destination, claimedName: nil, nameSource: .none)
        let verdict = owner.judge.judge(facts)
        guard verdict.allowed else { return false }
        return opaqueRefusal(verdict, facts, kind: .opaque) != nil
    }

    /// Refuses a TLS or opaque connection: recorded, then reset.
    func refuseStream(_ verdict: Verdict, now: UInt64) {
        self.verdict = verdict
        phase = .closed
        owner.finish(self, now: now, reset: true)
    }

    func dial(now: UInt64) {
        do {
            let (fd, connected) = try Sockets.connect(destination)
            upstream = fd
            try owner.register(fd.raw, self, interest: EventLoop.writable)
            upstreamInterest = EventLoop.writable
            if connected {
                phase = .open
                deadline = 0
            } else {
                phase = .connecting
                deadline = now + limits.connectTimeoutMilliseconds * 1_000_000
            }
        } catch {
            upstreamFailed(error.description, now: now)
        }
    }

    private func finishConnect(now: UInt64) {
        guard let upstream else { return }
        let code = Sockets.pendingError(upstream.raw)
        guard code == 0 else {
            upstreamFailed("connect to \(destination): \(errnoDescription(code))", now: now)
            return
        }
        phase = .open
        deadline = 0
    }

    /// The upstream could not be reached: HTTP gets 502, other protocols a reset.
    func upstreamFailed(_ why: String, now: UInt64) {
        detail.append("upstream: \(why)")
        if kind == .http {
            sendReply(status: "502 Bad Gateway", block: nil, body: "warden: \(destination) could not be reached: \(why)")
            startDraining(now: now)
        } else {
            phase = .closed
            owner.finish(self, now: now, reset: true)
        }
    }

    // MARK: - Replies and closing

    /// Writes a short reply to the client (best effort: it is small and goes first).
    func sendReply(status: String, block: String?, body: String) {
        let line = Self.printable(body)
        var head = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(line.utf8.count + 1)\r\nConnection: close\r\n"
        if let block { head += "X-Warden-Block: \(Self.printable(block))\r\n" }
        let bytes = Array((head + "\r\n" + line + "\n").utf8)
        if let session = tls?.client {
            // Inside inspected TLS: only over a completed handshake; otherwise nothing can be said.
            if tls?.clientReady == true, sendReplyTLS(bytes, session: session) { bytesDown += Int64(bytes.count) }
            return
        }
        _ = bytes.withUnsafeBytes { send(client.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
        bytesDown += Int64(bytes.count)
    }

    /// Header-safe text: printable ASCII only, one line.
    static func printable(_ text: String) -> String {
        String(decoding: text.utf8.map { $0 >= 0x20 && $0 < 0x7F ? $0 : 0x3F }.prefix(400), as: UTF8.self)
    }

    func startDraining(now: UInt64) {
        shutdown(client.raw, Int32(SHUT_WR))
        if let upstream {
            owner.unregister(upstream.raw)
            upstream.close()
            self.upstream = nil
        }
        phase = .draining
        deadline = now + 1_000_000_000
        upstreamInterest = 0
    }

    private func drainClient(now: UInt64) -> Bool {
        var scratch = [UInt8](repeating: 0, count: 16_384)
        let n = scratch.withUnsafeMutableBytes { recv(client.raw, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n > 0 { return true }
        if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { close(now: now, note: nil) }
        return false
    }

    func close(now: UInt64, note: String?) {
        guard phase != .closed else { return }
        if let note { detail.append(note) }
        phase = .closed
        owner.finish(self, now: now, reset: false)
    }

    func updateInterest() {
        var wantClient: UInt32 = 0
        var wantUpstream: UInt32 = 0
        switch phase {
        case .peeking, .draining, .proxyRequest:
            wantClient = EventLoop.readable
        case .resolving:
            break
        case .connecting:
            wantUpstream = EventLoop.writable
            if let tls { (wantClient, wantUpstream) = tlsInterest(tls) }
        case .open:
            if let tls {
                (wantClient, wantUpstream) = tlsInterest(tls)
                break
            }
            if !clientDone && !upShut && pendingUp.isEmpty && (upPipe?.held ?? 0) == 0 && !awaitingUpgrade { wantClient |= EventLoop.readable }
            if !pendingUp.isEmpty || (upPipe?.held ?? 0) > 0 { wantUpstream |= EventLoop.writable }
            if (downPipe?.held ?? 0) > 0 { wantClient |= EventLoop.writable } else if !upstreamDone && !downShut { wantUpstream |= EventLoop.readable }
            if upstream == nil { wantUpstream = 0 }
        case .closed: return
        }
        if wantClient != clientInterest {
            owner.loop.modify(client.raw, wantClient)
            clientInterest = wantClient
        }
        if let upstream, wantUpstream != upstreamInterest {
            owner.loop.modify(upstream.raw, wantUpstream)
            upstreamInterest = wantUpstream
        }
    }

    /// The connection's record, written when it closes or is refused.
    func record(now: UInt64) -> AuditRecord {
        let verdict = verdict ?? .deny("guard.no-data", "the program closed the connection before sending anything it could be judged by; nothing was dialled")
        var record = owner.recorder.make(.connection, proto: "tcp", allowed: verdict.allowed, rule: verdict.rule, reason: verdict.reason)
        fillDestination(&record)
        record.name = verdict.name ?? proxy?.host ?? ""
        record.nameSource = verdict.nameSource.rawValue
        record.bytesUp = bytesUp
        record.bytesDown = bytesDown
        record.durationMilliseconds = Int64((now - acceptedAt) / 1_000_000)
        record.flags = Self.joinedFlags(verdict.flags + flags)
        var details = ["connection=\(id)", "protocol=\(kind.rawValue)"] + (proxy.map { ["via=proxy \($0.tunnel ? "CONNECT" : "absolute-form")"] } ?? []) + detail
        if kind == .http || tls != nil { details.append("requests=\(http.requests)") }
        record.detail = details.joined(separator: "; ")
        return record
    }

    /// The destination columns of a record: for the explicit proxy, what was asked for until
    /// an address is known.
    func fillDestination(_ record: inout AuditRecord) {
        if let proxy, !proxy.resolved {
            record.port = Int(proxy.port)
        } else {
            record.address = "\(destination.address)"
            record.port = Int(destination.port)
        }
    }
}
