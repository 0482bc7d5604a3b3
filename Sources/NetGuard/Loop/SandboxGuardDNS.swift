import CWardenShim
import Glibc
import Policy
import Store
import WardenSystem

/// Where an answer goes back to: a UDP client address, or a TCP client.
enum QueryReply {
    /// The resolver socket the query came in on, and the client's address.
    case udp(Int32, sockaddr_storage, socklen_t)
    case tcp(DNSStreamClient)
    /// The guard's own lookup for a connection to the explicit proxy.
    case lookup(Connection)
}

/// A query forwarded upstream, waiting for its answer. A query that came over TCP goes
/// upstream over TCP (a truncated UDP answer would otherwise come back truncated again).
struct PendingQuery {
    var reply: QueryReply
    var query: DNSQuery
    var socket: FileDescriptor
    var deadline: UInt64
    /// Detection flags the query raised (carried to the record written with its answer).
    var flags: [String] = []
    /// TCP: the framed query still to send (sent once the connect completes) and the answer
    /// read so far.
    var stream: UpstreamStream?
}

struct UpstreamStream {
    var unsent: [UInt8]
    var received: [UInt8] = []
    var connected = false
}

/// The sandbox's resolver (R23): names the policy refuses get REFUSED and never leave the
/// machine; allowed names are forwarded to the configured upstream, and their answers are
/// checked (no loopback, link-local, metadata or unallowed internal addresses: DNS rebinding)
/// and remembered, which is what binds later connections to names (R20).
extension SandboxGuard {
    func readQueries(on socket: Int32, now: UInt64) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<64 {
            var from = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(socket, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length)
                } }
            }
            guard n > 0 else { return }
            handleQuery(Array(buffer[0..<n]), reply: .udp(socket, from, length), proto: "udp", now: now)
        }
    }

    func handleQuery(_ bytes: [UInt8], reply: QueryReply, proto: String, now: UInt64) {
        stats.dnsQueries += 1
        let parsed = bytes.withUnsafeBytes { DNSMessageParser.parseQuery($0) }
        guard case .query(let query) = parsed else {
            var record = recorder.make(.dns, proto: proto, allowed: false, rule: "dns.malformed", reason: "a malformed DNS query was dropped")
            if case .malformed(let why) = parsed { record.detail = why }
            recorder.record(record, now: now)
            stats.dnsRefused += 1
            return
        }
        let name = query.question.name
        var verdict: Verdict
        if !dnsBucket.take(now: now) {
            verdict = .deny("limits.dns-rate", "this sandbox sent more than \(Int(limits.dnsPerSecond)) DNS queries per second (R19)", name: name, source: .query)
        } else if query.question.type == DNSRecordType.null || query.question.type == 65399 {
            // Refused whatever detection's action (which adds the flag, rule 15).
            verdict = .deny("dns.record-type", "record type \(Self.typeName(query.question.type)) carries DNS tunnels (iodine) and is refused", name: name, source: .query)
        } else {
            verdict = judge.judgeName(name)
            if verdict.allowed && pendingQueries.count >= limits.dnsInFlight {
                verdict = .deny("limits.dns-inflight", "\(limits.dnsInFlight) queries of this sandbox already wait for the upstream (R19)", name: name, source: .query)
            }
            if verdict.allowed && !recorder.mayAllow {
                verdict = .deny("audit.unavailable", "audit records cannot be written; DNS is refused (R19)", name: name, source: .query)
            }
        }
        if verdict.rule != "limits.dns-rate" {
            verdict = detectQuery(query, proto: proto, verdict: verdict, now: now)
        }
        guard verdict.allowed else {
            answer(query, rcode: 5, to: reply)
            recordQuery(query, proto: proto, verdict: verdict, detail: "rcode=REFUSED", now: now)
            stats.dnsRefused += 1
            return
        }
        do throws(SystemError) {
            let overTCP = proto == "tcp"
            let type = overTCP ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
            let socket = FileDescriptor(try check("socket") { Glibc.socket(upstreamResolver.family, type | Sockets.nonBlocking, 0) })
            var (storage, length) = upstreamResolver.storage
            let connected = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket.raw, $0, length) } }
            if connected != 0 && !(overTCP && errno == EINPROGRESS) { throw SystemError.current("connect(\(upstreamResolver))") }
            var pending = PendingQuery(reply: reply, query: query, socket: socket, deadline: now + limits.dnsTimeoutMilliseconds * 1_000_000,
                                       flags: verdict.flags)
            if overTCP {
                pending.stream = UpstreamStream(unsent: DNSMessageBuilder.tcpFramed(bytes))
                try register(socket.raw, .dnsUpstream, interest: EventLoop.writable)
            } else {
                try checkSize("send(\(upstreamResolver))") { bytes.withUnsafeBytes { send(socket.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
                try register(socket.raw, .dnsUpstream, interest: EventLoop.readable)
            }
            pendingQueries[socket.raw] = pending
        } catch {
            answer(query, rcode: 2, to: reply)
            recordQuery(query, proto: proto, verdict: verdict, detail: "rcode=SERVFAIL; upstream: \(error.description)", now: now)
        }
    }

    func readAnswer(_ fd: Int32, now: UInt64) {
        guard let pending = pendingQueries[fd] else { return }
        if pending.stream != nil {
            streamAnswer(fd, pending, now: now)
            return
        }
        var buffer = [UInt8](repeating: 0, count: 65_535)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        guard n > 0 else {
            // ICMP port unreachable (the upstream is not listening), or an error: SERVFAIL.
            upstreamFailed(fd, pending, errnoDescription(n < 0 ? errno : ECONNREFUSED), now: now)
            return
        }
        answered(fd, pending, Array(buffer[0..<n]), now: now)
    }

    private func upstreamFailed(_ fd: Int32, _ pending: PendingQuery, _ why: String, now: UInt64) {
        finishQuery(fd)
        answer(pending.query, rcode: 2, to: pending.reply)
        recordQuery(pending.query, proto: pending.protoName, verdict: judge.judgeName(pending.query.question.name),
                    detail: "rcode=SERVFAIL; upstream \(upstreamResolver): \(why)", now: now)
    }

    /// TCP to the upstream: finish the connect, send the framed query, read the framed answer.
    private func streamAnswer(_ fd: Int32, _ pending: PendingQuery, now: UInt64) {
        var pending = pending
        guard var stream = pending.stream else { return }
        if !stream.connected {
            let code = Sockets.pendingError(fd)
            guard code == 0 else {
                upstreamFailed(fd, pending, errnoDescription(code), now: now)
                return
            }
            stream.connected = true
        }
        if !stream.unsent.isEmpty {
            let n = stream.unsent.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                upstreamFailed(fd, pending, errnoDescription(errno), now: now)
                return
            }
            if n > 0 { stream.unsent.removeFirst(n) }
            if stream.unsent.isEmpty { loop.modify(fd, EventLoop.readable) }
            pending.stream = stream
            pendingQueries[fd] = pending
            return
        }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        guard n > 0 else {
            upstreamFailed(fd, pending, n == 0 ? "closed before answering" : errnoDescription(errno), now: now)
            return
        }
        stream.received += buffer[0..<n]
        if stream.received.count >= 2 {
            let length = Int(stream.received[0]) << 8 | Int(stream.received[1])
            if stream.received.count >= 2 + length {
                answered(fd, pending, Array(stream.received[2..<(2 + length)]), now: now)
                return
            }
        }
        pending.stream = stream
        pendingQueries[fd] = pending
    }

    /// An answer from the upstream: checked (it must answer this query; rebinding), then
    /// remembered and delivered, or refused.
    private func answered(_ fd: Int32, _ pending: PendingQuery, _ bytes: [UInt8], now: UInt64) {
        guard let response = bytes.withUnsafeBytes({ DNSMessageParser.parseResponse($0) }), response.id == pending.query.id,
              response.question?.name == pending.query.question.name, response.question?.type == pending.query.question.type else {
            // Not the answer to this query (spoofed or garbled): keep waiting until the deadline.
            return
        }
        finishQuery(fd)
        let name = pending.query.question.name
        var addresses: [IPAddress] = []
        for answer in response.answers {
            switch answer.data {
            case .a(let raw), .aaaa(let raw):
                if let address = SocketAddress.fromBytes(raw) { addresses.append(address) }
            default: break
            }
        }
        for address in addresses {
            var verdict = judge.judgeAnswer(name: name, address: address)
            if !verdict.allowed {
                verdict.flags = pending.flags
                verdict = flagAnswer([DetectionFinding(.internalAddress, verdict.reason, evidence: "address=\(address)")], pending, verdict: verdict, now: now)
                answer(pending.query, rcode: 5, to: pending.reply)
                recordQuery(pending.query, proto: pending.protoName, verdict: verdict,
                            detail: "rcode=REFUSED; upstream answered " + addresses.map { "\($0)" }.joined(separator: ","), now: now)
                stats.dnsRefused += 1
                return
            }
        }
        var verdict = judge.judgeName(name)
        verdict.flags = pending.flags
        var detail = "rcode=\(Self.rcodeName(response.rcode))"
        if !addresses.isEmpty { detail += "; answers=" + addresses.map { "\($0)" }.joined(separator: ",") }
        if response.truncated { detail += "; truncated" }
        if let detector {
            var longestTXT = 0, characters = 0
            for answer in response.answers {
                switch answer.data {
                case .a, .aaaa: characters += 8
                case .cname(let target): characters += target.count
                case .txt(let length):
                    longestTXT = max(longestTXT, length)
                    characters += length
                case .other(let length): characters += length
                }
            }
            let findings = detector.answer(name: name, rcode: response.rcode, messageBytes: bytes.count, longestTXT: longestTXT, characters: characters, now: now)
            verdict = flagAnswer(findings, pending, verdict: verdict, now: now)
            guard verdict.allowed else {
                answer(pending.query, rcode: 5, to: pending.reply)
                recordQuery(pending.query, proto: pending.protoName, verdict: verdict, detail: "rcode=REFUSED; the upstream's answer was withheld (\(detail))", now: now)
                stats.dnsRefused += 1
                return
            }
        }
        judge.cache.remember(name: name, addresses: addresses)
        deliver(bytes, to: pending.reply)
        recordQuery(pending.query, proto: pending.protoName, verdict: verdict, detail: detail, now: now)
    }

    func expireQuery(_ fd: Int32, now: UInt64) {
        guard let pending = pendingQueries[fd] else { return }
        finishQuery(fd)
        answer(pending.query, rcode: 2, to: pending.reply)
        recordQuery(pending.query, proto: pending.protoName, verdict: judge.judgeName(pending.query.question.name),
                    detail: "rcode=SERVFAIL; the upstream \(upstreamResolver) did not answer within \(limits.dnsTimeoutMilliseconds) ms", now: now)
    }

    private func finishQuery(_ fd: Int32) {
        unregister(fd)
        pendingQueries[fd]?.socket.close()
        pendingQueries[fd] = nil
    }

    private func answer(_ query: DNSQuery, rcode: UInt8, to reply: QueryReply) {
        deliver(DNSMessageBuilder.answer(to: query, rcode: rcode), to: reply)
    }

    private func deliver(_ bytes: [UInt8], to reply: QueryReply) {
        switch reply {
        case .udp(let socket, var address, let length):
            _ = bytes.withUnsafeBytes { raw in
                withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(socket, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, length)
                } }
            }
        case .tcp(let client):
            client.send(DNSMessageBuilder.tcpFramed(bytes))
        case .lookup(let connection):
            connection.lookupAnswered(bytes, now: monotonicNanoseconds())
        }
    }

    /// The rules on a query (DETECTION.md 4, 8, 13–15, 17, 18), before it is forwarded.
    private func detectQuery(_ query: DNSQuery, proto: String, verdict: Verdict, now: UInt64) -> Verdict {
        guard let detector else { return verdict }
        let name = query.question.name
        var findings = detector.query(name: name, type: query.question.type, now: now)
        // A deny rule's refusal is an attempt at a destination the organisation named as
        // forbidden (rule 1); a name merely not on the allow list is recorded, not flagged,
        // until a connection tries it.
        if verdict.policyReason == .denyRule {
            findings.insert(DetectionFinding(.destinationNotAllowed, verdict.reason, evidence: "refused-by=\(verdict.rule)"), at: 0)
        } else if case .openMode(let would?) = verdict.policyReason {
            findings.insert(DetectionFinding(.destinationNotAllowed, "rule \(would) would refuse \(name.prefix(80)) (network mode open: recorded only)",
                                             evidence: "would-be-refused-by=\(would)"), at: 0)
        }
        return flagQuery(findings, name: name, type: query.question.type, proto: proto, verdict: verdict, now: now)
    }

    /// The rules on an answer (2, 16, 17, 19), before it is delivered.
    private func flagAnswer(_ findings: [DetectionFinding], _ pending: PendingQuery, verdict: Verdict, now: UInt64) -> Verdict {
        flagQuery(findings, name: pending.query.question.name, type: pending.query.question.type, proto: pending.protoName, verdict: verdict, now: now)
    }

    private func flagQuery(_ findings: [DetectionFinding], name: String, type: UInt16, proto: String, verdict: Verdict, now: UInt64) -> Verdict {
        guard let detector, !findings.isEmpty else { return verdict }
        var context = recorder.make(.flag, proto: proto, allowed: true, rule: "", reason: "")
        context.name = name
        context.nameSource = NameSource.query.rawValue
        context.port = 53
        let registered = detector.checks.subdomain(of: name).registered
        let action = flag(findings, context: context, scope: "dns \(registered)", link: "query=\(Self.typeName(type)) \(name.prefix(120))", now: now)
        return verdict.flagged(findings, action: action, detector: detector, refuse: verdict.allowed)
    }

    private func recordQuery(_ query: DNSQuery, proto: String, verdict: Verdict, detail: String, now: UInt64) {
        var record = recorder.make(.dns, proto: proto, allowed: verdict.allowed, rule: verdict.rule, reason: verdict.reason)
        record.name = query.question.name
        record.nameSource = NameSource.query.rawValue
        record.port = 53
        record.flags = verdict.flags.joined(separator: ",")
        record.detail = "type=\(Self.typeName(query.question.type)); " + detail
        recorder.record(record, now: now)
    }

    static func typeName(_ type: UInt16) -> String {
        switch type {
        case 1: return "A"
        case 2: return "NS"
        case 5: return "CNAME"
        case 6: return "SOA"
        case 10: return "NULL"
        case 12: return "PTR"
        case 15: return "MX"
        case 16: return "TXT"
        case 28: return "AAAA"
        case 33: return "SRV"
        case 65: return "HTTPS"
        case 255: return "ANY"
        default: return "TYPE\(type)"
        }
    }

    static func rcodeName(_ rcode: UInt8) -> String {
        switch rcode {
        case 0: return "NOERROR"
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 3: return "NXDOMAIN"
        case 5: return "REFUSED"
        default: return "RCODE\(rcode)"
        }
    }

    /// Looks a name up for the explicit proxy (A and AAAA) through the same path as the
    /// sandbox's own queries: judged, rate-limited, checked for rebinding, recorded and
    /// remembered, so the connection that follows is bound to the answer (R20).
    func lookup(_ name: String, for connection: Connection, now: UInt64) {
        connection.proxy?.lookupsPending = 2
        for type in [DNSRecordType.a, DNSRecordType.aaaa] {
            let query = DNSMessageBuilder.query(id: UInt16.random(in: 1...UInt16.max), name: name, type: type)
            handleQuery(query, reply: .lookup(connection), proto: "udp", now: now)
        }
    }

    // MARK: - DNS over TCP

    func acceptDNSClients(now: UInt64) {
        for _ in 0..<16 {
            let fd = wd_accept4(sockets.dnsTCP.raw, Sockets.nonBlocking)
            guard fd >= 0 else { return }
            let client = DNSStreamClient(FileDescriptor(fd), owner: self, deadline: now + limits.headerTimeoutMilliseconds * 1_000_000)
            do { try register(fd, .dnsClient(client), interest: EventLoop.readable) } catch { client.socket.close() }
        }
    }
}

extension PendingQuery {
    var protoName: String {
        if case .tcp = reply { return "tcp" }
        return "udp"
    }
}

/// A DNS client on TCP: length-prefixed queries, answered in order as they come back. Answers
/// the socket cannot take at once wait in `unsent` (bounded) until it is writable.
final class DNSStreamClient {
    let socket: FileDescriptor
    unowned let owner: SandboxGuard
    var deadline: UInt64
    private var buffer: [UInt8] = []
    private var unsent: [UInt8] = []
    private var waitingToWrite = false
    /// Room for a late reader's answers beyond the socket's own buffer: 512 queries in flight
    /// of ~10 KB each fit (1 MiB did not, when the kernel's buffer was smaller under load).
    static let maxUnsent = 8 << 20

    init(_ socket: FileDescriptor, owner: SandboxGuard, deadline: UInt64) {
        self.socket = socket
        self.owner = owner
        self.deadline = deadline
    }

    func handle(events: UInt32, now: UInt64) {
        if events & EventLoop.writable != 0 { flush() }
        guard socket.isOpen, events & (EventLoop.readable | EventLoop.hangup) != 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(socket.raw, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        guard n > 0 else {
            close()
            return
        }
        buffer += chunk[0..<n]
        guard buffer.count <= 65_537 + 2 else {
            close()
            return
        }
        while buffer.count >= 2 {
            let length = Int(buffer[0]) << 8 | Int(buffer[1])
            guard buffer.count >= 2 + length else { break }
            let message = Array(buffer[2..<(2 + length)])
            buffer.removeFirst(2 + length)
            deadline = now + owner.limits.headerTimeoutMilliseconds * 1_000_000
            owner.handleQuery(message, reply: .tcp(self), proto: "tcp", now: now)
        }
    }

    func send(_ bytes: [UInt8]) {
        guard socket.isOpen else { return }
        guard unsent.count + bytes.count <= Self.maxUnsent else {
            close()  // a client that does not read its answers
            return
        }
        unsent += bytes
        flush()
    }

    private func flush() {
        while !unsent.isEmpty && socket.isOpen {
            let n = unsent.withUnsafeBytes { Glibc.send(socket.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n > 0 {
                unsent.removeFirst(n)
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            if n < 0 && errno == EINTR { continue }
            close()
            return
        }
        guard socket.isOpen, waitingToWrite != !unsent.isEmpty else { return }
        waitingToWrite = !unsent.isEmpty
        owner.loop.modify(socket.raw, EventLoop.readable | (waitingToWrite ? EventLoop.writable : 0))
    }

    func close() {
        guard socket.isOpen else { return }
        owner.unregister(socket.raw)
        socket.close()
    }
}
