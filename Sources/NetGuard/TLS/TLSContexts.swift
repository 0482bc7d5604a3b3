import CTLS
import Glibc

/// What one guard needs to inspect TLS: the sandbox's authority, the OpenSSL contexts for both
/// sides, and the leaves it minted. Lives on the guard's thread.
final class TLSContexts {
    let authority: TLSAuthority
    /// The context that faces the sandbox's programs (the guard as server), made at first use
    /// like the upstream one: a sandbox that makes no HTTPS connection pays for neither.
    private var serverContext: OpaquePointer?
    /// PEM files trusted for upstream certificates besides the system store.
    let trustedCAs: [String]
    /// The context that faces upstream servers (the guard as client), made at first use: loading
    /// the system store costs milliseconds that a sandbox without HTTPS need not pay.
    private var upstreamContext: OpaquePointer?
    private var leaves: LeafCertificateCache

    /// Debian's system store (update-ca-certificates): the bundle and its hashed directory.
    static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"
    static let systemDirectory = "/etc/ssl/certs"

    /// The only application protocol the guard speaks inside TLS (wire format, zero-terminated,
    /// as the ALPN callback reads it): HTTP/1.1, whose requests it judges one by one.
    nonisolated(unsafe) static let clientProtocols = wireList(["http/1.1"])
    /// HTTP/2, agreed with the program only when the server agreed to it with the guard.
    nonisolated(unsafe) static let clientProtocolsHTTP2 = wireList(["h2"])

    private static func wireList(_ names: [String]) -> UnsafeMutablePointer<UInt8> {
        let wire: [UInt8] = names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: wire.count)
        pointer.initialize(from: wire, count: wire.count)
        return pointer
    }

    init(inspection: TLSInspection) throws(GuardError) {
        authority = inspection.authority
        trustedCAs = inspection.trustedCAs
        leaves = LeafCertificateCache(capacity: 512)
        // Every readable trusted CA must load now: a policy naming a CA that is not there
        // stops the sandbox rather than failing its connections one by one later.
        for path in trustedCAs {
            guard let store = X509_STORE_new() else { continue }
            defer { X509_STORE_free(store) }
            guard X509_STORE_load_file(store, path) == 1 else {
                throw GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: the trusted CA \(path) (network.tls.trustedCAs) cannot be loaded"))
            }
        }
    }

    /// Both sides: partial writes (the loop retries the rest), records read ahead in one recv
    /// (several records per system call), buffers released while a connection is idle.
    /// TLS 1.3 suites: AES-128-GCM first (the guard re-encrypts every byte; the 256-bit suite
    /// costs more for no gain a sandbox's traffic needs), the others still accepted.
    private static func tune(_ context: OpaquePointer) {
        _ = wd_tls_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
        wd_tls_ctx_set_read_ahead(context)
        SSL_CTX_set_default_read_buffer_len(context, 1 << 16)
        _ = SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
        wd_tls_ctx_prefer_own_ciphers(context)
        wd_tls_ctx_no_renegotiation(context)
    }

    deinit {
        leaves.removeAll()
        if let serverContext { SSL_CTX_free(serverContext) }
        if let upstreamContext { SSL_CTX_free(upstreamContext) }
    }

    /// The context for the programs' side: TLS 1.2 at least, ALPN chosen per connection.
    func server() -> OpaquePointer? {
        if let serverContext { return serverContext }
        guard let context = SSL_CTX_new(TLS_server_method()) else { return nil }
        _ = wd_tls_ctx_set_min_tls12(context)
        Self.tune(context)
        wd_tls_ctx_use_alpn_choice(context)
        serverContext = context
        return context
    }

    /// The context for upstream connections: peer verification on, the system store and the
    /// policy's CAs, TLS 1.2 at least.
    func upstream() -> Result<OpaquePointer, GuardError> {
        if let upstreamContext { return .success(upstreamContext) }
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            return .failure(GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: cannot create the upstream context")))
        }
        _ = wd_tls_ctx_set_min_tls12(context)
        Self.tune(context)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        let bundle = access(Self.systemBundle, R_OK) == 0 ? Self.systemBundle : nil
        let directory = access(Self.systemDirectory, R_OK) == 0 ? Self.systemDirectory : nil
        if bundle != nil || directory != nil {
            _ = SSL_CTX_load_verify_locations(context, bundle, directory)
        }
        for path in trustedCAs where SSL_CTX_load_verify_file(context, path) != 1 {
            SSL_CTX_free(context)
            return .failure(GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: the trusted CA \(path) cannot be loaded")))
        }
        ERR_clear_error()
        upstreamContext = context
        return .success(context)
    }

    /// The leaf for `name`, minted at most once per day per name.
    func leaf(for name: String, now: Int64) -> OpaquePointer? {
        if let cached = leaves.certificate(for: name, now: now) { return cached }
        guard let minted = authority.mintLeaf(for: name, now: now) else { return nil }
        leaves.insert(minted, for: name, expires: min(authority.notAfter, now + 86_400))
        return minted
    }
}

/// Leaves by name, bounded: the oldest go first when it is full. Entries are refreshed an
/// hour before they expire so a long connection never sees a certificate about to lapse.
struct LeafCertificateCache {
    private struct Entry {
        let certificate: OpaquePointer
        let expires: Int64
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    init(capacity: Int) {
        self.capacity = capacity
    }

    func certificate(for name: String, now: Int64) -> OpaquePointer? {
        guard let entry = entries[name], entry.expires - now > 3_600 else { return nil }
        return entry.certificate
    }

    /// Takes ownership of `certificate`. An SSL that uses an evicted leaf holds its own
    /// reference, so freeing it here is safe.
    mutating func insert(_ certificate: OpaquePointer, for name: String, expires: Int64) {
        if let old = entries[name] {
            X509_free(old.certificate)
            order.removeAll { $0 == name }
        }
        while entries.count >= capacity, let oldest = order.first {
            order.removeFirst()
            if let evicted = entries.removeValue(forKey: oldest) { X509_free(evicted.certificate) }
        }
        entries[name] = Entry(certificate: certificate, expires: expires)
        order.append(name)
    }

    /// Frees every leaf (the guard is stopping).
    mutating func removeAll() {
        for entry in entries.values { X509_free(entry.certificate) }
        entries.removeAll()
        order.removeAll()
    }
}

extension TLSContexts {
    /// The guard's client session toward `serverName`: SNI, hostname verification, and HTTP/1.1
    /// offered when the program offered any protocol (so the server answers in what the guard
    /// judges).
    func upstreamSession(serverName: String, offerHTTP11: Bool, offerHTTP2: Bool = false, fd: Int32) -> Result<TLSSession, GuardError> {
        let context: OpaquePointer
        switch upstream() {
        case .failure(let error): return .failure(error)
        case .success(let made): context = made
        }
        guard let session = TLSSession(context: context, accepting: false, fd: fd),
              wd_tls_set_server_name(session.ssl, serverName) == 1,
              SSL_set1_host(session.ssl, serverName) == 1 else {
            return .failure(GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: cannot prepare the session to \(serverName)")))
        }
        if offerHTTP11 {
            let wire: [UInt8] = (offerHTTP2 ? [2] + Array("h2".utf8) : []) + [8] + Array("http/1.1".utf8)
            // SSL_set_alpn_protos returns 0 on success.
            guard wire.withUnsafeBufferPointer({ SSL_set_alpn_protos(session.ssl, $0.baseAddress, UInt32($0.count)) }) == 0 else {
                return .failure(GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: cannot offer HTTP/1.1 to \(serverName)")))
            }
        }
        return .success(session)
    }

    /// The guard's server session toward the program: a leaf for `serverName`, HTTP/1.1 the
    /// only protocol it agrees to.
    func clientSession(serverName: String, now: Int64, fd: Int32, clientHello: [UInt8]?) -> TLSSession? {
        guard let leaf = leaf(for: serverName, now: now), let context = server(),
              let session = TLSSession(context: context, accepting: true, fd: fd, prefix: clientHello),
              SSL_use_certificate(session.ssl, leaf) == 1, SSL_use_PrivateKey(session.ssl, authority.leafKey) == 1,
              SSL_set_ex_data(session.ssl, 0, UnsafeMutableRawPointer(Self.clientProtocols)) == 1 else {
            ERR_clear_error()
            return nil
        }
        return session
    }

    /// Before the program's handshake: agree on HTTP/2 with it (the server chose it).
    func offerHTTP2(_ session: TLSSession) {
        _ = SSL_set_ex_data(session.ssl, 0, UnsafeMutableRawPointer(Self.clientProtocolsHTTP2))
    }
}
