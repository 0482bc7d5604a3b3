import CTLS
import Glibc

/// One TLS endpoint of an inspected connection: an OpenSSL session whose transport is a BIO
/// pair the guard drives itself, so that it fits the guard's non-blocking loop and so that the
/// ClientHello already read (to judge the server name) can be handed to it. Socket bytes are
/// received straight into the pair's buffer and sent straight out of it (no extra copy).
final class TLSSession {
    enum Step: Equatable {
        case done
        /// Needs bytes from the peer (or room to write to it).
        case more
        case failed(String)
    }

    enum ReadResult: Equatable {
        case bytes(Int)
        case more
        /// The peer ended the TLS stream: `clean` when with close_notify.
        case ended(clean: Bool)
        case failed(String)
    }

    enum Transfer: Equatable {
        case moved(Int)
        case wouldBlock
        case endOfStream
        case failed(Int32)
    }

    let ssl: OpaquePointer
    /// The guard's end of the BIO pair (the session holds the other).
    private let network: OpaquePointer
    /// Each direction of the pair buffers this much ciphertext.
    static let pairBuffer = 1 << 17
    private(set) var handshakeDone = false

    init?(context: OpaquePointer, accepting: Bool) {
        guard let ssl = SSL_new(context) else { return nil }
        var inner: OpaquePointer?
        var outer: OpaquePointer?
        guard BIO_new_bio_pair(&inner, Self.pairBuffer, &outer, Self.pairBuffer) == 1, let inner, let outer else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_bio(ssl, inner, inner)
        if accepting { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.network = outer
    }

    deinit {
        SSL_free(ssl)
        BIO_free(network)
    }

    // MARK: - Ciphertext (the socket side)

    /// Bytes already read from the peer (the peeked ClientHello).
    func feed(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { BIO_write(network, $0.baseAddress, Int32($0.count)) } == Int32(bytes.count)
    }

    /// Ciphertext waiting to go to the peer.
    var outputPending: Int { Int(BIO_ctrl_pending(network)) }
    /// Room for ciphertext from the peer.
    var inputRoom: Int { Int(BIO_ctrl_get_write_guarantee(network)) }

    /// Reads from `fd` into the session's input, as much as there is room for.
    func receive(from fd: Int32) -> Transfer {
        var total = 0
        while true {
            var area: UnsafeMutablePointer<CChar>?
            let room = BIO_nwrite0(network, &area)
            guard room > 0, let start = area else { return total > 0 ? .moved(total) : .wouldBlock }
            let n = recv(fd, start, Int(room), Int32(MSG_DONTWAIT))
            if n > 0 {
                _ = BIO_nwrite(network, &area, Int32(n))
                total += n
                if n < Int(room) { return .moved(total) }
                continue
            }
            if total > 0 { return .moved(total) }
            if n == 0 { return .endOfStream }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return .wouldBlock }
            return .failed(code)
        }
    }

    /// Writes the session's pending output to `fd`.
    func send(to fd: Int32) -> Transfer {
        var total = 0
        while true {
            var area: UnsafeMutablePointer<CChar>?
            let available = BIO_nread0(network, &area)
            guard available > 0, let start = area else { return .moved(total) }
            let n = Glibc.send(fd, start, Int(available), Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if n > 0 {
                _ = BIO_nread(network, &area, Int32(n))
                total += n
                if n < Int(available) { return .moved(total) }
                continue
            }
            if total > 0 { return .moved(total) }
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return .wouldBlock }
            return .failed(code)
        }
    }

    /// The peer's socket reached its end: nothing more will be fed.
    func peerClosed() {
        _ = BIO_ctrl(network, BIO_C_SHUTDOWN_WR, 0, nil)
    }

    // MARK: - The TLS layer

    func handshake() -> Step {
        guard !handshakeDone else { return .done }
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeDone = true
            return .done
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            ERR_clear_error()
            return .more
        default:
            return .failed(failure("handshake"))
        }
    }

    /// Decrypts into `buffer` (at most one record: 16 KiB).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .more }
        let n = SSL_read(ssl, base, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 { return .bytes(Int(n)) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            ERR_clear_error()
            return .more
        case SSL_ERROR_ZERO_RETURN:
            return .ended(clean: true)
        case SSL_ERROR_SYSCALL:
            ERR_clear_error()
            return .ended(clean: false)
        default:
            // OpenSSL 3 reports an end without close_notify as an error ("unexpected eof").
            let reason = failure("read")
            return reason.contains("unexpected eof") ? .ended(clean: false) : .failed(reason)
        }
    }

    /// Encrypts as much of `bytes` as the pair takes; 0 when it is full, nil on failure.
    func write(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty else { return 0 }
        let n = SSL_write(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
        if n > 0 { return Int(n) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            ERR_clear_error()
            return 0
        default:
            ERR_clear_error()
            return nil
        }
    }

    /// Queues close_notify (the flush sends it).
    func close() {
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// The ALPN protocol agreed, if any.
    var alpn: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    var version: String { SSL_get_version(ssl).map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) } ?? "" }

    /// The upstream certificate's verification result, in words (for refusals).
    var verifyFailure: String? {
        let result = SSL_get_verify_result(ssl)
        guard result != X509_V_OK else { return nil }
        guard let text = X509_verify_cert_error_string(result) else { return "verification error \(result)" }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)
    }

    private func failure(_ what: String) -> String {
        OpenSSLFailure.drain("TLS \(what) failed")
    }
}
