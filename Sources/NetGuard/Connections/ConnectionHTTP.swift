import Store

/// Plain HTTP, request by request (R22): each head is parsed with strict framing, judged
/// (name bound to the destination, method and path against the policy) and recorded before
/// a byte of it goes upstream; bodies are framed by Content-Length (spliced) or chunked
/// encoding (scanned), so the guard always knows where the next request starts.
extension Connection {
    /// Reads more of the current head (only when everything before it has gone upstream, so
    /// bytes never overtake each other).
    func readHTTP(now: UInt64) -> Bool {
        guard pendingUp.isEmpty, (upPipe?.held ?? 0) == 0 else { return false }
        // A body detection reads (rather than splices) comes in larger pieces.
        let inBody: Bool
        switch http.body {
        case .none: inBody = false
        case .length, .chunked: inBody = true
        }
        let read = inBody ? readClient(limit: Self.bodyReadLimit, chunk: Self.bodyReadLimit) : readClient(limit: limits.maxHeaderBytes + 16_384)
        guard let n = read else { return false }
        if n == 0 {
            clientDone = true
            if !inbound.isEmpty, case .none = http.body {
                close(now: now, note: "the program closed in the middle of a request head")
            } else {
                shutUp()
            }
            return true
        }
        processHTTP(now: now)
        return true
    }

    func processHTTP(now: UInt64) {
        while phase == .open || phase == .connecting {
            switch http.body {
            case .chunked(var scanner):
                guard !inbound.isEmpty else { return }
                let step = inbound.withUnsafeBytes { scanner.scan($0) }
                switch step {
                case .consumed:
                    guard scanBody(inbound[...], now: now) else { return }
                    pendingUp += inbound
                    inbound.removeAll()
                    http.body = .chunked(scanner)
                    return
                case .finished(let n):
                    guard scanBody(inbound[..<n], now: now) else { return }
                    pendingUp += inbound[..<n]
                    inbound.removeFirst(n)
                    http.body = .none
                    continue
                case .malformed(let why):
                    refuseHTTP(.deny("http.framing", "malformed chunked body: \(why)"), now: now, recorded: false)
                    return
                }
            case .length:
                // A body detection reads is copied through the guard rather than spliced.
                if inbound.isEmpty {
                    http.splicingBody = owner.detector == nil
                    return
                }
                let take = Int(min(UInt64(inbound.count), http.bodyRemaining))
                guard scanBody(inbound[..<take], now: now) else { return }
                if take == inbound.count && pendingUp.isEmpty {
                    swap(&pendingUp, &inbound)
                } else {
                    pendingUp += inbound[..<take]
                    inbound.removeFirst(take)
                }
                http.bodyRemaining -= UInt64(take)
                if http.bodyRemaining == 0 {
                    http.body = .none
                    continue
                }
                http.splicingBody = owner.detector == nil
                return
            case .none:
                break
            }
            guard !inbound.isEmpty else {
                http.headStartedAt = nil
                return
            }
            if http.headStartedAt == nil { http.headStartedAt = now }
            let peek = inbound.withUnsafeBytes { HTTPRequestParser.parse($0, maxHeaderBytes: limits.maxHeaderBytes, maxHeaders: limits.maxHeaders) }
            switch peek {
            case .needMore:
                return
            case .notHTTP:
                refuseHTTP(.deny("http.framing", "bytes after a request are not an HTTP/1.x request"), now: now, recorded: false)
                return
            case .refused(let error):
                refuseHTTP(.deny("http.framing", error.message), now: now, recorded: false)
                return
            case .request(let head):
                http.headStartedAt = nil
                guard judge(head, now: now) else { return }
                if let proxy, !proxy.tunnel {
                    pendingUp += ProxyRequest.originForm(head, raw: inbound[..<head.headerLength])
                } else {
                    pendingUp += inbound[..<head.headerLength]
                }
                inbound.removeFirst(head.headerLength)
                if head.chunked {
                    http.body = .chunked(ChunkedBodyScanner())
                } else if let length = head.contentLength, length > 0 {
                    http.body = .length
                    http.bodyRemaining = length
                }
                if upstream == nil { dial(now: now) }
                if head.upgrade == "websocket" {
                    // Only as the connection's first request, so that the next response bytes
                    // are its answer and nothing earlier can pass for a 101.
                    guard http.requests == 1 else {
                        refuseHTTP(.deny("http.framing", "a WebSocket upgrade must be the first request on its connection", name: head.host, source: .host),
                                   now: now, recorded: false)
                        return
                    }
                    // Nothing more is read from the program until the response says whether
                    // the stream is still HTTP.
                    awaitingUpgrade = true
                    return
                }
            }
        }
    }

    /// Bytes of a body read at once when it goes through the guard (detection on).
    static let bodyReadLimit = 128 << 10

    /// Judges and records one request; false when it was refused (and answered).
    private func judge(_ head: HTTPRequestHead, now: UInt64) -> Bool {
        let verdict = judgeAndRecord(head, now: now)
        guard verdict.allowed else {
            refuseHTTP(verdict, now: now, recorded: true)
            return false
        }
        return true
    }

    /// The verdict on one request (HTTP/1.x, or HTTP/2 in the same shape), recorded before
    /// anything of it goes upstream.
    func judgeAndRecord(_ head: HTTPRequestHead, now: UInt64) -> Verdict {
        http.requests += 1
        var verdict: Verdict
        if head.method == "CONNECT" {
            verdict = .deny("http.connect", "CONNECT inside a connection is refused; programs that tunnel open a new connection to the proxy in HTTPS_PROXY",
                            name: head.host, source: .host)
        } else if let refusal = proxyRefusal(head) {
            verdict = refusal
        } else if let tls {
            verdict = judgeInsideTLS(head, serverName: tls.serverName)
        } else {
            let facts = ConnectionFacts(destination: destination, claimedName: head.host.map(Self.trimDot), nameSource: head.host == nil ? .none : .host,
                                        method: head.method, path: head.path)
            verdict = owner.judge.judge(facts)
        }
        verdict = detectRequest(head, verdict, now: now)
        if verdict.allowed && !owner.recorder.mayAllow {
            verdict = .deny("audit.unavailable", "audit records cannot be written (\(owner.recorder.failure ?? "")); egress is refused (R19)",
                            name: verdict.name, source: verdict.nameSource)
        }
        if !recordRequest(head, verdict, now: now) && verdict.allowed {
            verdict = .deny("audit.unavailable", "the audit record of this request cannot be written; refused (R19)", name: verdict.name, source: verdict.nameSource)
        }
        if self.verdict == nil || !(self.verdict?.allowed ?? false) { self.verdict = verdict }
        return verdict
    }

    /// The record of a request refused before it could be judged as one (framing).
    func recordRefusal(_ verdict: Verdict, detail: String, now: UInt64) {
        var record = owner.recorder.make(.request, proto: "tcp", allowed: false, rule: verdict.rule, reason: verdict.reason)
        fillDestination(&record)
        record.name = verdict.name ?? proxy?.host ?? ""
        record.detail = detail
        owner.recorder.record(record, now: now)
    }

    /// A request inside inspected TLS: its Host must name the server the TLS was opened for
    /// (R22), then it is judged like plain HTTP (method and path rules, git fetch as a read).
    private func judgeInsideTLS(_ head: HTTPRequestHead, serverName: String) -> Verdict {
        let host = head.host.map { Self.trimDot($0.lowercased()) }
        if let host, host != serverName {
            return .deny("tls.host-mismatch", "the request names Host \(host.prefix(80)) inside TLS opened for \(serverName) (R22)", name: host, source: .host)
        }
        let facts = ConnectionFacts(destination: destination, claimedName: host ?? serverName, nameSource: host == nil ? .sni : .host,
                                    method: head.method, path: head.path, encrypted: true, inspected: true)
        return owner.judge.judge(facts)
    }

    /// Writes the record of one request; false when it could not be written.
    func recordRequest(_ head: HTTPRequestHead, _ verdict: Verdict, now: UInt64) -> Bool {
        var record = owner.recorder.make(.request, proto: "tcp", allowed: verdict.allowed, rule: verdict.rule, reason: verdict.reason)
        fillDestination(&record)
        record.name = verdict.name ?? head.host ?? ""
        record.nameSource = verdict.nameSource.rawValue
        record.method = head.method
        record.path = head.method == "CONNECT" ? "" : QueryRedaction.path(head.path)
        record.flags = verdict.flags.joined(separator: ",")
        record.detail = proxy?.request == head ? "request to the explicit proxy" : "request \(http.requests) on the connection" + (tls != nil ? " (inside inspected TLS\(upward == .http2 ? ", HTTP/2" : ""))" : "")
        return owner.recorder.record(record, now: now)
    }

    /// Answers 403 with the reason, records it (unless the request record already did), and
    /// closes gently.
    func refuseHTTP(_ verdict: Verdict, now: UInt64, recorded: Bool) {
        if !recorded { recordRefusal(verdict, detail: "request \(http.requests + 1) on the connection", now: now) }
        if self.verdict == nil || self.verdict?.allowed == true && http.requests <= 1 { self.verdict = verdict }
        detail.append("refused: \(verdict.rule)")
        sendReply(status: "403 Forbidden", block: "\(verdict.rule): \(verdict.reason)", body: "warden: refused by \(verdict.rule): \(verdict.reason)")
        startDraining(now: now)
    }
}
