/// The first bytes of a connection: TLS (judged by its ClientHello's server name), plain
/// HTTP (judged request by request), or anything else (judged by address alone).
extension Connection {
    static let tlsPeekLimit = 16_389

    /// Returns true when something changed.
    func peek(now: UInt64) -> Bool {
        let limit = max(Self.tlsPeekLimit, limits.maxHeaderBytes)
        guard let n = readClient(limit: limit) else { return false }
        if n == 0 {
            // The program closed (or reset) before anything could be judged.
            clientDone = true
            close(now: now, note: "closed by the program before any data")
            return true
        }
        classify(now: now)
        return true
    }

    func classify(now: UInt64) {
        inbound.withUnsafeBytes { bytes in
            if kind == .unknown {
                if TLSClientHelloParser.looksLikeTLS(bytes) {
                    kind = .tls
                } else if case .notHTTP = HTTPRequestParser.parse(bytes, maxHeaderBytes: limits.maxHeaderBytes, maxHeaders: limits.maxHeaders) {
                    kind = .opaque
                } else {
                    kind = .http
                }
            }
        }
        switch kind {
        case .tls:
            let peek = inbound.withUnsafeBytes { TLSClientHelloParser.parse($0) }
            switch peek {
            case .needMore:
                if inbound.count >= Self.tlsPeekLimit {
                    refuseStream(.deny("tls.malformed", "the ClientHello is longer than \(Self.tlsPeekLimit) bytes"), now: now)
                }
            case .malformed(let why):
                refuseStream(.deny("tls.malformed", "not a well-formed TLS ClientHello: \(why)"), now: now)
            case .clientHello(let hello, _):
                if !hello.alpn.isEmpty { detail.append("offered alpn=" + hello.alpn.joined(separator: ",")) }
                clientOfferedProtocols = !hello.alpn.isEmpty
                clientOffersHTTP2 = hello.alpn.contains("h2")
                let facts = ConnectionFacts(destination: destination, claimedName: hello.serverName.map(Self.trimDot), nameSource: .sni,
                                            encrypted: true, encryptedClientHello: hello.encryptedClientHello)
                decideStream(facts, now: now)
            }
        case .http:
            phase = .open
            upward = .http
            deadline = 0
            processHTTP(now: now)
        case .opaque:
            decideStream(ConnectionFacts(destination: destination, claimedName: nil, nameSource: .none), now: now)
        case .unknown:
            break
        }
    }

    static func trimDot(_ name: String) -> String {
        name.hasSuffix(".") ? String(name.dropLast()) : name
    }
}
