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

    /// After an allowed verdict on a ClientHello: dials, then runs the upstream handshake.
    func startInspection(serverName: String, offeredProtocols: Bool, now: UInt64) {
        guard let contexts = owner.tls else { return }
        switch contexts.upstreamSession(serverName: serverName, offerHTTP11: offeredProtocols) {
        case .failure(let error):
            refuseStream(.deny("tls.setup", error.message, name: serverName, source: .sni), now: now)
            return
        case .success(let session):
            tls = TLSInterception(serverName: serverName, clientHello: inbound, upstream: session, now: now)
        }
        inbound = []
        upward = .http
        detail.append("tls=inspected")
        dial(now: now)
    }

    /// One round of work on an inspected connection. Returns true when something moved.
    func pumpTLS(now: UInt64) -> Bool {
        guard let tls else { return false }
        if deadline == 0 && !tls.established { deadline = now + limits.headerTimeoutMilliseconds * 1_000_000 }
        switch tls.stage {
        case .upstreamHandshake:
            return upstreamHandshake(tls, now: now)
        case .clientHandshake, .refusing:
            return clientHandshake(tls, now: now)
        case .established:
            var progressed = relayUpTLS(tls, now: now)
            if phase == .open { progressed = relayDownTLS(tls, now: now) || progressed }
            if phase == .open { progressed = finishTLS(tls) || progressed }
            return progressed
        }
    }

    // MARK: - Handshakes

    private func upstreamHandshake(_ tls: TLSInterception, now: UInt64) -> Bool {
        guard let upstream else { return false }
        var progressed = receiveTLS(tls.upstream, from: upstream.raw, fromClient: false, now: now)
        if phase != .open { return true }
        switch tls.upstream.handshake() {
        case .more:
            break
        case .done:
            detail.append("upstream \(tls.upstream.version)")
            beginClientHandshake(tls, refusing: nil, now: now)
            progressed = true
        case .failed(let reason):
            let why = tls.upstream.verifyFailure.map { "the certificate of \(tls.serverName) does not verify: \($0)" }
                ?? "the TLS handshake with \(tls.serverName) failed: \(reason)"
            let verdict = Verdict.deny("tls.upstream", "\(why); nothing was sent to it", name: tls.serverName, source: .sni)
            self.verdict = verdict
            detail.append("upstream handshake failed")
            owner.unregister(upstream.raw)
            upstream.close()
            self.upstream = nil
            upstreamInterest = 0
            beginClientHandshake(tls, refusing: verdict, now: now)
            return true
        }
        return flushTLS(tls.upstream, to: upstream.raw, now: now) || progressed
    }

    /// Hands the ClientHello to a new server session (with a leaf for the server name).
    private func beginClientHandshake(_ tls: TLSInterception, refusing: Verdict?, now: UInt64) {
        guard let contexts = owner.tls, let session = contexts.clientSession(serverName: tls.serverName, now: Int64(time(nil))),
              session.feed(tls.clientHello) else {
            refuseStream(.deny("tls.setup", "the guard could not make a certificate for \(tls.serverName)", name: tls.serverName, source: .sni), now: now)
            return
        }
        tls.client = session
        tls.stage = refusing.map { .refusing($0) } ?? .clientHandshake
    }

    private func clientHandshake(_ tls: TLSInterception, now: UInt64) -> Bool {
        guard let session = tls.client else { return false }
        var progressed = receiveTLS(session, from: client.raw, fromClient: true, now: now)
        if phase != .open { return true }
        switch session.handshake() {
        case .more:
            break
        case .done:
            progressed = true
            if case .refusing(let verdict) = tls.stage {
                sendReply(status: "502 Bad Gateway", block: "\(verdict.rule): \(verdict.reason)", body: "warden: refused by \(verdict.rule): \(verdict.reason)")
                startDraining(now: now)
                return true
            }
            tls.stage = .established
            deadline = 0
            if let alpn = session.alpn { detail.append("alpn=\(alpn)") }
        case .failed(let reason):
            _ = session.send(to: client.raw)
            if case .refusing = tls.stage {
                close(now: now, note: "the program did not complete TLS with the sandbox's certificate")
                return true
            }
            verdict = .deny("tls.client-handshake",
                            "the program did not complete TLS with the sandbox's certificate (\(reason)); it may not trust the sandbox's CA (\(TLSInspection.bundlePath)); nothing was sent to \(tls.serverName)",
                            name: tls.serverName, source: .sni)
            close(now: now, note: nil)
            return true
        }
        return flushTLS(session, to: client.raw, now: now) || progressed
    }

    // MARK: - Relaying

    /// Program → guard (judged) → server.
    private func relayUpTLS(_ tls: TLSInterception, now: UInt64) -> Bool {
        guard let upstream, let session = tls.client else { return false }
        var progressed = false
        if !pendingUp.isEmpty && !upShut {
            guard let n = pendingUp.withUnsafeBytes({ tls.upstream.write($0) }) else {
                close(now: now, note: "the TLS session to the server failed")
                return true
            }
            if n > 0 {
                pendingUp.removeFirst(n)
                bytesUp += Int64(n)
                progressed = true
                if pendingUp.isEmpty && upward == .http { processHTTP(now: now) }
                if phase != .open { return true }
            }
        }
        if pendingUp.count < Self.tlsBacklog && !clientDone && !awaitingUpgrade {
            if !tls.clientSocketEnded && session.inputRoom > 0 {
                progressed = receiveTLS(session, from: client.raw, fromClient: true, now: now) || progressed
                if phase != .open { return true }
            }
            let scratch = owner.tlsScratch
            let room = min(tlsReadLimit - inbound.count, scratch.count)
            let read = session.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<max(0, room)]))
            tls.moreFromClient = read != .more
            switch read {
            case .more:
                break
            case .bytes(let n):
                inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]).bindMemory(to: UInt8.self))
                progressed = true
                if upward == .http {
                    processHTTP(now: now)
                } else {
                    pendingUp += inbound
                    inbound.removeAll(keepingCapacity: true)
                }
            case .ended(let clean):
                progressed = true
                clientDone = true
                tls.clientEndedCleanly = clean
                if upward == .http, !inbound.isEmpty || !isBetweenRequests {
                    close(now: now, note: "the program ended TLS in the middle of a request")
                    return true
                }
            case .failed(let reason):
                close(now: now, note: "TLS from the program: \(reason)")
                return true
            }
        }
        return flushTLS(tls.upstream, to: upstream.raw, now: now) || progressed
    }

    /// Server → guard → program. Responses are not judged; they are re-encrypted as they come.
    private func relayDownTLS(_ tls: TLSInterception, now: UInt64) -> Bool {
        guard let session = tls.client else { return false }
        var progressed = false
        for _ in 0..<8 {
            if !tls.pendingDown.isEmpty {
                guard let n = tls.pendingDown.withUnsafeBytes({ session.write($0) }) else {
                    close(now: now, note: "the TLS session to the program failed")
                    return true
                }
                guard n > 0 else { break }
                tls.pendingDown.removeFirst(n)
                bytesDown += Int64(n)
                progressed = true
                if !tls.pendingDown.isEmpty { break }
            }
            guard let upstream, !upstreamDone else { break }
            if !tls.upstreamSocketEnded && tls.upstream.inputRoom > 0 {
                progressed = receiveTLS(tls.upstream, from: upstream.raw, fromClient: false, now: now) || progressed
                if phase != .open { return true }
            }
            let scratch = owner.tlsScratch
            let read = tls.upstream.read(into: scratch)
            tls.moreFromUpstream = read != .more
            switch read {
            case .more:
                break
            case .bytes(let n):
                progressed = true
                let plaintext = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
                if awaitingUpgrade { checkUpgrade(plaintext) }
                // Straight on to the program's session; what it cannot take yet waits.
                guard let taken = session.write(plaintext) else {
                    close(now: now, note: "the TLS session to the program failed")
                    return true
                }
                bytesDown += Int64(taken)
                if taken < n {
                    tls.pendingDown.append(contentsOf: UnsafeRawBufferPointer(rebasing: plaintext[taken...]).bindMemory(to: UInt8.self))
                    break
                }
                continue
            case .ended(let clean):
                progressed = true
                upstreamDone = true
                tls.upstreamEndedCleanly = clean
            case .failed(let reason):
                close(now: now, note: "TLS from the server: \(reason)")
                return true
            }
            break
        }
        return flushTLS(session, to: client.raw, now: now) || progressed
    }

    /// Half-closes each side once the other has ended and everything queued has gone, with
    /// close_notify only where the other side sent one (a truncation stays visible).
    private func finishTLS(_ tls: TLSInterception) -> Bool {
        guard let session = tls.client else { return false }
        var progressed = false
        if clientDone && !upShut && pendingUp.isEmpty, let upstream {
            if tls.clientEndedCleanly && !tls.upstreamNotified {
                tls.upstream.close()
                tls.upstreamNotified = true
                _ = tls.upstream.send(to: upstream.raw)
            }
            if tls.upstream.outputPending == 0 {
                shutdown(upstream.raw, Int32(SHUT_WR))
                upShut = true
                progressed = true
            }
        } else if clientDone && !upShut && upstream == nil {
            upShut = true
        }
        if upstreamDone && !downShut && tls.pendingDown.isEmpty {
            if tls.upstreamEndedCleanly && !tls.clientNotified {
                session.close()
                tls.clientNotified = true
                _ = session.send(to: client.raw)
            }
            if session.outputPending == 0 {
                shutdown(client.raw, Int32(SHUT_WR))
                downShut = true
                progressed = true
                if upward == .http && !clientDone {
                    // The server ended the connection: no more requests from the program.
                    upShut = true
                    pendingUp.removeAll()
                }
            }
        }
        return progressed
    }

    /// A request is complete (no head or body in progress).
    private var isBetweenRequests: Bool {
        if case .none = http.body { return true }
        return false
    }

    /// After a WebSocket upgrade request: the response's status line (first plaintext from the
    /// server) says whether the stream stays HTTP.
    private func checkUpgrade(_ plaintext: UnsafeRawBufferPointer) {
        guard plaintext.count >= 12 else { return }
        awaitingUpgrade = false
        if String(decoding: plaintext[9..<12], as: UTF8.self) == "101" {
            upward = .opaque
            detail.append("upgraded to websocket")
        }
    }

    // MARK: - Sockets

    private func receiveTLS(_ session: TLSSession, from fd: Int32, fromClient: Bool, now: UInt64) -> Bool {
        guard let tls else { return false }
        if fromClient ? tls.clientSocketEnded : tls.upstreamSocketEnded { return false }
        switch session.receive(from: fd) {
        case .moved:
            return true
        case .wouldBlock:
            return false
        case .endOfStream:
            if fromClient { tls.clientSocketEnded = true } else { tls.upstreamSocketEnded = true }
            session.peerClosed()
            return true
        case .failed(let code):
            close(now: now, note: "\(fromClient ? "client" : "upstream") read: \(errnoDescription(code))")
            return true
        }
    }

    private func flushTLS(_ session: TLSSession, to fd: Int32, now: UInt64) -> Bool {
        guard session.outputPending > 0 else { return false }
        switch session.send(to: fd) {
        case .moved(let n):
            return n > 0
        case .wouldBlock, .endOfStream:
            return false
        case .failed(let code):
            close(now: now, note: "write: \(errnoDescription(code))")
            return true
        }
    }

    /// What an inspected connection waits for.
    func tlsInterest(_ tls: TLSInterception) -> (client: UInt32, upstream: UInt32) {
        var wantClient: UInt32 = 0
        var wantUpstream: UInt32 = 0
        switch tls.stage {
        case .upstreamHandshake:
            wantUpstream = EventLoop.readable
        case .clientHandshake, .refusing:
            if !tls.clientSocketEnded { wantClient = EventLoop.readable }
        case .established:
            if let session = tls.client, !tls.clientSocketEnded, !clientDone, !awaitingUpgrade, pendingUp.count < Self.tlsBacklog, session.inputRoom > 0 {
                wantClient = EventLoop.readable
            }
            if tls.pendingDown.isEmpty, !upstreamDone, !tls.upstreamSocketEnded, tls.upstream.inputRoom > 0 { wantUpstream = EventLoop.readable }
        }
        if (tls.client?.outputPending ?? 0) > 0 { wantClient |= EventLoop.writable }
        if tls.upstream.outputPending > 0 { wantUpstream |= EventLoop.writable }
        if tls.established {
            // Work that waits on no socket: plaintext the other session has not taken yet, or
            // records still in a session's buffer (the round ended first), where epoll cannot
            // see them. Being writable, the other side's socket wakes the loop to go on.
            if !tls.pendingDown.isEmpty || (tls.moreFromUpstream && !upstreamDone) { wantClient |= EventLoop.writable }
            if (!pendingUp.isEmpty && !upShut) || (tls.moreFromClient && !clientDone && !awaitingUpgrade) { wantUpstream |= EventLoop.writable }
        }
        return (wantClient, upstream == nil ? 0 : wantUpstream)
    }

    /// A reply through the program's TLS session (with close_notify after it).
    func sendReplyTLS(_ bytes: [UInt8], session: TLSSession) {
        _ = bytes.withUnsafeBytes { session.write($0) }
        session.close()
        tls?.clientNotified = true
        _ = session.send(to: client.raw)
    }
}
