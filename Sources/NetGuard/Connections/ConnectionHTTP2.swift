import Policy

/// HTTP/2 inside inspected TLS: the program's frames are read as they come; each new request's
/// header block is decoded and judged (method, path, :authority bound to the server name) and
/// recorded before a byte of it goes up, exactly like an HTTP/1.1 request. A refused request
/// gets a 403 with `X-Warden-Block` on its stream and a GOAWAY: the server never saw that
/// block, so its HPACK state no longer matches the program's and no further header block may
/// be passed on this connection (the reader refuses any; the program opens a new connection
/// for its next requests). The refused stream's DATA is dropped and its flow-control credit
/// given back to the program.
extension Connection {
    func processHTTP2(_ tls: TLSInterception, now: UInt64) {
        guard var reader = tls.http2 else { return }
        defer { if tls.http2 != nil { tls.http2 = reader } }
        while phase == .open && pendingUp.count < Self.tlsBacklog {
            switch reader.next(inbound[...]) {
            case .needMore:
                // A frame begun but not complete: bounded in time like an HTTP/1 head.
                http.headStartedAt = inbound.isEmpty ? nil : (http.headStartedAt ?? now)
                return
            case .credit(let n):
                tls.injection = (tls.injection ?? []) + HTTP2Frames.windowUpdate(increment: n)
                _ = deliverDown(tls, UnsafeRawBufferPointer(start: nil, count: 0), now: now)
            case .forward(let n):
                pendingUp += inbound[..<n]
                inbound.removeFirst(n)
            case .drop(let n):
                inbound.removeFirst(n)
            case .request(let stream, let request, let n):
                http.headStartedAt = nil
                let head = HTTPRequestHead(method: request.method, target: request.path, path: request.path, minorVersion: 1,
                                           host: request.host, port: request.port, contentLength: nil, chunked: false,
                                           upgrade: nil, connectionClose: false, headers: [], headerLength: n)
                let verdict = judgeAndRecord(head, now: now)
                guard verdict.allowed else {
                    reader.refuse(stream)
                    inbound.removeFirst(n)
                    refuseHTTP2(tls, stream: stream, verdict, now: now)
                    continue
                }
                pendingUp += inbound[..<n]
                inbound.removeFirst(n)
            case .malformed(let reason):
                var record = owner.recorder.make(.request, proto: "tcp", allowed: false, rule: "http.framing", reason: reason)
                fillDestination(&record)
                record.name = tls.serverName
                record.detail = "HTTP/2 inside inspected TLS"
                owner.recorder.record(record, now: now)
                verdict = .deny("http.framing", reason, name: tls.serverName, source: .sni)
                tls.http2 = nil
                let goaway = HTTP2Frames.goaway(lastStream: reader.highestStream, error: HTTP2Frames.protocolError, debug: "warden: \(reason)")
                if tls.serverFrames.atSafePoint && tls.pendingDown.isEmpty && !tls.client.wantsWrite { _ = goaway.withUnsafeBytes { tls.client.write($0) } }
                close(now: now, note: "malformed HTTP/2")
                return
            }
        }
    }

    /// Answers the refused stream (403 + reason) and tells the program GOAWAY, at the first
    /// boundary between the server's frames.
    private func refuseHTTP2(_ tls: TLSInterception, stream: UInt32, _ verdict: Verdict, now: UInt64) {
        detail.append("refused: \(verdict.rule)")
        let block = "\(verdict.rule): \(verdict.reason)"
        tls.injection = (tls.injection ?? []) + HTTP2Frames.refusal(stream: stream, status: 403, block: block)
            + HTTP2Frames.goaway(lastStream: stream, error: HTTP2Frames.noError, debug: "warden: refused by \(verdict.rule)")
        _ = deliverDown(tls, UnsafeRawBufferPointer(start: nil, count: 0), now: now)
    }
}
