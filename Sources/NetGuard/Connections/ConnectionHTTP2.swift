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
        while phase == .open && pendingUp.count < Self.tlsBacklog, let step = tls.http2?.next(inbound[...]) {
            switch step {
            case .needMore:
                // A frame begun but not complete: bounded in time like an HTTP/1 head.
                http.headStartedAt = inbound.isEmpty ? nil : (http.headStartedAt ?? now)
                return
            case .credit(let n):
                tls.injection = (tls.injection ?? []) + HTTP2Frames.windowUpdate(increment: n)
                _ = deliverDown(tls, UnsafeRawBufferPointer(start: nil, count: 0), now: now)
            case .forward(let n):
                if let stream = tls.http2?.lastDataStream {
                    guard scanBody(inbound[..<n], now: now, stream: stream) else { return }
                }
                pendingUp += inbound[..<n]
                inbound.removeFirst(n)
            case .drop(let n):
                inbound.removeFirst(n)
            case .trailers(let stream, let fields, let n):
                // Trailers are headers too: judged by the same detection rules.
                guard detectFields(fields, host: tls.serverName, place: "trailers", now: now) else {
                    streamScans[stream] = nil
                    close(now: now, note: "HTTP/2 trailers refused by detection")
                    return
                }
                streamScans[stream] = nil
                pendingUp += inbound[..<n]
                inbound.removeFirst(n)
            case .request(let stream, let request, let n):
                http.headStartedAt = nil
                let head = HTTPRequestHead(method: request.method, target: request.path, path: request.path, minorVersion: 1,
                                           host: request.host, port: request.port, contentLength: nil, chunked: false,
                                           upgrade: nil, connectionClose: false, headers: request.headers, headerLength: n)
                let verdict = judgeAndRecord(head, now: now)
                // Each stream's body is scanned on its own (streams interleave).
                if let scan = bodyScan {
                    if streamScans.count >= 64 { streamScans = streamScans.filter { tls.http2?.isOpen($0.key) == true } }
                    streamScans[stream] = scan
                    bodyScan = nil
                }
                guard verdict.allowed else {
                    tls.http2?.refuse(stream)
                    inbound.removeFirst(n)
                    refuseHTTP2(tls, stream: stream, verdict, now: now)
                    continue
                }
                pendingUp += inbound[..<n]
                inbound.removeFirst(n)
            case .malformed(let reason):
                let refusal = Verdict.deny("http.framing", reason, name: tls.serverName, source: .sni)
                recordRefusal(refusal, detail: "HTTP/2 inside inspected TLS", now: now)
                verdict = refusal
                let highestStream = tls.http2?.highestStream ?? 0
                tls.http2 = nil
                let goaway = HTTP2Frames.goaway(lastStream: highestStream, error: HTTP2Frames.protocolError, debug: "warden: \(reason)")
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
