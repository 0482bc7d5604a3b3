import Glibc
import WardenSystem

/// Moving bytes once a connection is open: pending bytes first, then the pipes.
extension Connection {
    /// Client → upstream. Returns true when something moved.
    func pumpUp(now: UInt64) -> Bool {
        if let upstream, !pendingUp.isEmpty {
            let n = pendingUp.withUnsafeBytes { send(upstream.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n > 0 {
                pendingUp.removeFirst(n)
                bytesUp += Int64(n)
                checkUpload(now: now)
                if phase == .closed { return true }
                if pendingUp.isEmpty && upward == .http { processHTTP(now: now) }
                return true
            }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return false }
            close(now: now, note: "upstream write: \(errnoDescription(errno))")
            return true
        }
        if let upstream, let pipe = upPipe, pipe.held > 0 {
            switch pipe.drain(to: upstream.raw) {
            case .success(let n):
                bytesUp += Int64(n)
                checkUpload(now: now)
                return n > 0
            case .failure(let error):
                close(now: now, note: "upstream write: \(error.reason)")
                return true
            }
        }
        guard !upShut && !clientDone else { return false }
        switch upward {
        case .peek, .http2:
            // HTTP/2 exists only inside inspected TLS (ConnectionTLS).
            return false
        case .opaque:
            return fillUp(limit: SplicePipe.chunk, now: now)
        case .http:
            if http.splicingBody {
                let moved = fillUp(limit: Int(min(UInt64(SplicePipe.chunk), http.bodyRemaining)), now: now, body: true)
                return moved
            }
            if awaitingUpgrade { return false }
            return readHTTP(now: now)
        }
    }

    /// Splices from the client into the up pipe.
    private func fillUp(limit: Int, now: UInt64, body: Bool = false) -> Bool {
        guard upstream != nil, limit > 0 else { return false }
        if upPipe == nil {
            do { upPipe = try SplicePipe() } catch {
                close(now: now, note: "pipe: \(error.reason)")
                return true
            }
        }
        guard let pipe = upPipe else { return false }
        switch pipe.fill(from: client.raw, limit: limit) {
        case .moved(let n):
            if body {
                http.bodyRemaining -= UInt64(n)
                if http.bodyRemaining == 0 {
                    http.body = .none
                    http.splicingBody = false
                }
            }
            return true
        case .endOfStream:
            clientDone = true
            if body {
                close(now: now, note: "the program closed in the middle of a request body")
                return true
            }
            shutUp()
            return true
        case .wouldBlock:
            return false
        case .failed(let code):
            close(now: now, note: "client read: \(errnoDescription(code))")
            return true
        }
    }

    /// No more bytes will go up: half-close the upstream once everything queued is out.
    func shutUp() {
        guard !upShut, let upstream, pendingUp.isEmpty, (upPipe?.held ?? 0) == 0 else { return }
        shutdown(upstream.raw, Int32(SHUT_WR))
        upShut = true
    }

    /// Upstream → client.
    func pumpDown(now: UInt64) -> Bool {
        guard let upstream else { return false }
        if clientDone && !upShut { shutUp() }
        if downPipe == nil {
            do { downPipe = try SplicePipe() } catch {
                close(now: now, note: "pipe: \(error.reason)")
                return true
            }
        }
        guard let pipe = downPipe else { return false }
        if pipe.held > 0 {
            switch pipe.drain(to: client.raw) {
            case .success(let n):
                bytesDown += Int64(n)
                if n > 0 { return true }
                return false
            case .failure:
                // The program stopped reading (closed): nothing more to deliver.
                close(now: now, note: nil)
                return true
            }
        }
        if upstreamDone {
            if !downShut {
                shutdown(client.raw, Int32(SHUT_WR))
                downShut = true
                if upward == .http && !clientDone {
                    // The server ended the connection: stop taking requests from the program.
                    upShut = true
                    pendingUp.removeAll()
                }
                return true
            }
            return false
        }
        if awaitingUpgrade && !checkUpgrade() { return false }
        switch pipe.fill(from: upstream.raw) {
        case .moved: return true
        case .endOfStream:
            upstreamDone = true
            return true
        case .wouldBlock: return false
        case .failed(let code):
            close(now: now, note: "upstream read: \(errnoDescription(code))")
            return true
        }
    }

    /// After a WebSocket upgrade request: the response's status line says whether the
    /// stream becomes opaque (101) or stays HTTP. False while the status line is incomplete.
    private func checkUpgrade() -> Bool {
        guard let upstream else { return false }
        var head = [UInt8](repeating: 0, count: 13)
        let n = head.withUnsafeMutableBytes { recv(upstream.raw, $0.baseAddress, 13, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) }
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            awaitingUpgrade = false
            return true
        }
        guard n == 13 else { return false }
        awaitingUpgrade = false
        // The upgrade was the connection's first request: these are its status line's bytes.
        if head.elementsEqual("HTTP/1.1 101 ".utf8) {
            upward = .opaque
            detail.append("upgraded to websocket")
        }
        return true
    }
}
