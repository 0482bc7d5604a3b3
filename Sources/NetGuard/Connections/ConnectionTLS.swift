import Glibc
import Policy
import WardenSystem

/// Inspected TLS (R22): the guard terminates the program's TLS with a leaf from the sandbox's
/// authority and opens its own, verified TLS to the real server; between the two, the
/// plaintext goes through the same HTTP/1.1 parser and judge as plain HTTP, request by request,
/// with each request's Host bound to the server name. Nothing reaches the server before its
/// request was judged and recorded, and nothing ever falls back to plaintext or to an opaque
/// tunnel: a program that does not accept the sandbox's certificate gets no connection.
extension Connection {
    /// Bytes of decrypted client data buffered before it is judged (a head may take them all).
    var tlsReadLimit: Int { limits.maxHeaderBytes + 16_384 }
    /// Plaintext queued for one side before the guard stops reading the other.
    static let tlsBacklog = 1 << 16

    /// After an allowed verdict on a ClientHello: answers it with a leaf for the server name
    /// while it dials and shakes hands with the real server, both at once.
    func startInspection(serverName: String, now: UInt64) {
        guard let contexts = owner.tls else { return }
        guard let clientSession = contexts.clientSession(serverName: serverName, now: Int64(time(nil)), fd: client.raw, clientHello: inbound) else {
            refuseStream(.deny("tls.setup", "the guard could not make a certificate for \(serverName)", name: serverName, source: .sni), now: now)
            return
        }
        inbound = []
        upward = .http
        detail.append("tls=inspected")
        deadline = 0
        dial(now: now)
        guard phase != .closed, let upstream else { return }
        switch contexts.upstreamSession(serverName: serverName, offerHTTP11: clientOfferedProtocols, offerHTTP2: clientOffersHTTP2, fd: upstream.raw) {
        case .failure(let error):
            refuseStream(.deny("tls.setup", error.message, name: serverName, source: .sni), now: now)
        case .success(let upstreamSession):
            let interception = TLSInterception(serverName: serverName, upstream: upstreamSession, client: clientSession)
            interception.offersHTTP2 = clientOffersHTTP2
            tls = interception
        }
    }

    /// One round of work on an inspected connection (also while the upstream connect is in
    /// progress: the program's handshake goes on meanwhile). Returns true when something moved.
    func pumpTLS(now: UInt64) -> Bool {
        guard let tls else { return false }
        if !tls.established {
            if phase == .open && deadline == 0 { deadline = now + limits.headerTimeoutMilliseconds * 1_000_000 }
            var progressed = false
            if phase == .open && !tls.upstreamReady && tls.refusal == nil { progressed = upstreamHandshake(tls, now: now) }
            // A program that offers HTTP/2 hears the protocol only once the server chose it.
            if !tls.offersHTTP2 || tls.upstreamReady || tls.refusal != nil { progressed = clientHandshake(tls, now: now) || progressed }
            if phase == .open && tls.clientReady, let refusal = tls.refusal {
                sendReply(status: "502 Bad Gateway", block: "\(refusal.rule): \(refusal.reason)", body: "warden: refused by \(refusal.rule): \(refusal.reason)")
                startDraining(now: now)
                return true
            }
            guard tls.established else { return progressed }
            deadline = 0
            if let alpn = tls.client.alpn { detail.append("alpn=\(alpn)") }
            if tls.client.alpn == "h2" {
                upward = .http2
                tls.http2 = HTTP2ClientStream(maxBlockBytes: limits.maxHeaderBytes)
            }
        }
        var progressed = relayUpTLS(tls, now: now)
        if phase == .open { progressed = relayDownTLS(tls, now: now) || progressed }
        if phase == .open { progressed = finishTLS(tls) || progressed }
        return progressed
    }

    // MARK: - Handshakes

    private func upstreamHandshake(_ tls: TLSInterception, now: UInt64) -> Bool {
        switch tls.upstream.handshake() {
        case .more:
            return false
        case .done:
            detail.append("upstream \(tls.upstream.version)")
            tls.upstreamReady = true
            if tls.offersHTTP2 && tls.upstream.alpn == "h2" { owner.tls?.offerHTTP2(tls.client) }
            return true
        case .failed(let reason):
            let why = tls.upstream.verifyFailure.map { "the certificate of \(tls.serverName) does not verify: \($0)" }
                ?? "the TLS handshake with \(tls.serverName) failed: \(reason)"
            let verdict = Verdict.deny("tls.upstream", "\(why); nothing was sent to it", name: tls.serverName, source: .sni)
            self.verdict = verdict
            tls.refusal = verdict
            detail.append("upstream handshake failed")
            if let upstream {
                owner.unregister(upstream.raw)
                upstream.close()
                self.upstream = nil
            }
            upstreamInterest = 0
            return true
        }
    }

    private func clientHandshake(_ tls: TLSInterception, now: UInt64) -> Bool {
        guard !tls.clientReady else { return false }
        switch tls.client.handshake() {
        case .more:
            return false
        case .done:
            tls.clientReady = true
            return true
        case .failed(let reason):
            if tls.refusal != nil {
                close(now: now, note: "the program did not complete TLS with the sandbox's certificate")
                return true
            }
            verdict = .deny("tls.client-handshake",
                            "the program did not complete TLS with the sandbox's certificate (\(reason)); it may not trust the sandbox's CA (\(TLSInspection.bundlePath)); nothing was sent to \(tls.serverName)",
                            name: tls.serverName, source: .sni)
            close(now: now, note: nil)
            return true
        }
    }

    // MARK: - Relaying

    /// Program → guard (judged) → server.
    private func relayUpTLS(_ tls: TLSInterception, now: UInt64) -> Bool {
        var progressed = false
        for _ in 0..<8 {
            if !pendingUp.isEmpty && !upShut {
                guard let n = pendingUp.withUnsafeBytes({ tls.upstream.write($0) }) else {
                    close(now: now, note: "the TLS session to the server failed")
                    return true
                }
                guard n > 0 else { break }
                pendingUp.removeFirst(n)
                bytesUp += Int64(n)
                progressed = true
                checkUpload(now: now)
                if phase == .closed { return true }
                if pendingUp.isEmpty && upward == .http { processHTTP(now: now) }
                if pendingUp.count < Self.tlsBacklog && upward == .http2 { processHTTP2(tls, now: now) }
                if phase != .open { return true }
            }
            guard pendingUp.count < Self.tlsBacklog, !clientDone, !awaitingUpgrade else { break }
            let scratch = owner.tlsScratch
            let room = min(tlsReadLimit - inbound.count, scratch.count)
            guard room > 0 else { break }
            let read = tls.client.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<room]))
            tls.moreFromClient = read != .more
            switch read {
            case .more:
                return progressed
            case .bytes(let n):
                inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]).bindMemory(to: UInt8.self))
                progressed = true
                if upward == .http {
                    processHTTP(now: now)
                    if phase != .open { return true }
                } else if upward == .http2 {
                    processHTTP2(tls, now: now)
                    if phase != .open { return true }
                } else {
                    pendingUp += inbound
                    inbound.removeAll(keepingCapacity: true)
                }
            case .ended(let clean):
                clientDone = true
                tls.clientEndedCleanly = clean
                if upward == .http2, !inbound.isEmpty {
                    close(now: now, note: "the program ended TLS in the middle of an HTTP/2 frame")
                } else if upward == .http, !inbound.isEmpty || !isBetweenRequests {
                    close(now: now, note: "the program ended TLS in the middle of a request")
                }
                return true
            case .failed(let reason):
                close(now: now, note: "TLS from the program: \(reason)")
                return true
            }
        }
        return progressed
    }

    /// Server → guard → program. Responses are not judged; they are re-encrypted as they come.
    private func relayDownTLS(_ tls: TLSInterception, now: UInt64) -> Bool {
        var progressed = false
        for _ in 0..<8 {
            if !tls.pendingDown.isEmpty {
                guard let n = tls.pendingDown.withUnsafeBytes({ tls.client.write($0) }) else {
                    close(now: now, note: "the TLS session to the program failed")
                    return true
                }
                guard n > 0 else { break }
                tls.pendingDown.removeFirst(n)
                bytesDown += Int64(n)
                progressed = true
                if !tls.pendingDown.isEmpty { break }
            }
            guard !upstreamDone else { break }
            let scratch = owner.tlsScratch
            let read = tls.upstream.read(into: scratch)
            tls.moreFromUpstream = read != .more
            switch read {
            case .more:
                return progressed
            case .bytes(let n):
                progressed = true
                let plaintext = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
                if awaitingUpgrade { checkUpgrade(plaintext) }
                guard deliverDown(tls, plaintext, now: now) else { return true }
                if !tls.pendingDown.isEmpty { return true }
            case .ended(let clean):
                upstreamDone = true
                tls.upstreamEndedCleanly = clean
                return true
            case .failed(let reason):
                close(now: now, note: "TLS from the server: \(reason)")
                return true
            }
        }
        return progressed
    }

    /// Half-closes each side once the other has ended and everything queued has gone, with
    /// close_notify only where the other side sent one (a truncation stays visible).
    private func finishTLS(_ tls: TLSInterception) -> Bool {
        var progressed = false
        if clientDone && !upShut && pendingUp.isEmpty {
            if let upstream {
                if tls.clientEndedCleanly { tls.upstream.close() }
                shutdown(upstream.raw, Int32(SHUT_WR))
            }
            upShut = true
            progressed = true
        }
        if upstreamDone && !downShut && tls.pendingDown.isEmpty {
            if tls.upstreamEndedCleanly {
                tls.client.close()
            }
            shutdown(client.raw, Int32(SHUT_WR))
            downShut = true
            progressed = true
            if upward == .http && !clientDone {
                // The server ended the connection: no more requests from the program.
                upShut = true
                pendingUp.removeAll()
            }
        }
        return progressed
    }

    /// Hands plaintext from the server to the program's session, straight on while it takes it
    /// (what it cannot take yet waits in order). With HTTP/2, the server's frames are followed,
    /// and frames of the guard's own go in at the first boundary. False when the session failed.
    func deliverDown(_ tls: TLSInterception, _ plaintext: UnsafeRawBufferPointer, now: UInt64) -> Bool {
        var rest = plaintext
        repeat {
            if tls.injection != nil && tls.serverFrames.atSafePoint, let frames = tls.injection {
                tls.injection = nil
                guard frames.withUnsafeBytes({ commitDown(tls, $0, now: now) }) else { return false }
            }
            let n = tls.http2 == nil ? rest.count : tls.serverFrames.follow(rest, stopAtSafePoint: tls.injection != nil)
            guard commitDown(tls, UnsafeRawBufferPointer(rebasing: rest[0..<n]), now: now) else { return false }
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        } while !rest.isEmpty
        if tls.injection != nil && tls.serverFrames.atSafePoint, let frames = tls.injection {
            tls.injection = nil
            return frames.withUnsafeBytes { commitDown(tls, $0, now: now) }
        }
        return true
    }

    private func commitDown(_ tls: TLSInterception, _ bytes: UnsafeRawBufferPointer, now: UInt64) -> Bool {
        guard !bytes.isEmpty else { return true }
        var taken = 0
        if tls.pendingDown.isEmpty {
            guard let n = tls.client.write(bytes) else {
                close(now: now, note: "the TLS session to the program failed")
                return false
            }
            taken = n
            bytesDown += Int64(n)
        }
        if taken < bytes.count {
            tls.pendingDown.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[taken...]).bindMemory(to: UInt8.self))
        }
        return true
    }

    /// A request is complete (no head or body in progress).
    private var isBetweenRequests: Bool {
        if case .none = http.body { return true }
        return false
    }

    /// After a WebSocket upgrade request: the response's status line (first plaintext from the
    /// server) says whether the stream stays HTTP.
    /// The upgrade was the connection's first request (`processHTTP` allows no other), so the
    /// first response bytes are its status line; anything but `HTTP/1.1 101 ` (also a line
    /// split over records) keeps the connection HTTP.
    private func checkUpgrade(_ plaintext: UnsafeRawBufferPointer) {
        awaitingUpgrade = false
        if plaintext.count >= 13, plaintext[0..<13].elementsEqual("HTTP/1.1 101 ".utf8) {
            upward = .opaque
            detail.append("upgraded to websocket")
        }
    }

    /// What an inspected connection waits for.
    func tlsInterest(_ tls: TLSInterception) -> (client: UInt32, upstream: UInt32) {
        let client = tls.client, upstream = tls.upstream
        var wantClient: UInt32 = 0
        var wantUpstream: UInt32 = 0
        if !tls.established {
            // The program's handshake waits for the server's protocol choice: nothing to read yet.
            let deferred = tls.offersHTTP2 && !tls.upstreamReady && tls.refusal == nil
            if !tls.clientReady && !deferred { wantClient = client.wantsWrite ? EventLoop.writable : EventLoop.readable }
            if phase == .connecting {
                wantUpstream = EventLoop.writable
            } else if !tls.upstreamReady {
                wantUpstream = upstream.wantsWrite ? EventLoop.writable : EventLoop.readable
            }
        } else {
            if !clientDone && !awaitingUpgrade && pendingUp.count < Self.tlsBacklog && inbound.count < tlsReadLimit { wantClient |= EventLoop.readable }
            if !upstreamDone && tls.pendingDown.isEmpty { wantUpstream |= EventLoop.readable }
            if !tls.pendingDown.isEmpty || client.wantsWrite || (tls.injection != nil && tls.serverFrames.atSafePoint) { wantClient |= EventLoop.writable }
            if (!pendingUp.isEmpty && !upShut) || upstream.wantsWrite { wantUpstream |= EventLoop.writable }
            // Whole records OpenSSL read ahead and the guard has not taken (the round ended
            // after a read that returned data): epoll cannot see them; being writable, the
            // other side's socket wakes the loop. After WANT_READ only a partial record can
            // wait there, and the socket's own readiness is what matters.
            if tls.moreFromUpstream && upstream.hasPending && !upstreamDone && tls.pendingDown.isEmpty { wantClient |= EventLoop.writable }
            if tls.moreFromClient && client.hasPending && !clientDone && !awaitingUpgrade && pendingUp.count < Self.tlsBacklog
                && inbound.count < tlsReadLimit { wantUpstream |= EventLoop.writable }
        }
        return (wantClient, self.upstream == nil ? 0 : wantUpstream)
    }

    /// A reply through the program's TLS session, with close_notify after it, written only
    /// where nothing else is still queued toward the program (a half-written record would be
    /// taken for its start); otherwise the connection just ends. False when not written.
    @discardableResult
    func sendReplyTLS(_ bytes: [UInt8], session: TLSSession) -> Bool {
        guard let tls, tls.pendingDown.isEmpty, !session.wantsWrite else { return false }
        guard bytes.withUnsafeBytes({ session.write($0) }) == bytes.count else { return false }
        session.close()
        return true
    }
}
