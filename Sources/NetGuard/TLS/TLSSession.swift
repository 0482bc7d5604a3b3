import CTLS
import Glibc
import WardenSystem

/// One TLS endpoint of an inspected connection: an OpenSSL session reading and writing its
/// non-blocking socket directly (records go from the socket into OpenSSL's buffer and back
/// with no copy of the guard's own). The program's ClientHello, already read to judge the
/// connection, is handed over first through a memory BIO; once OpenSSL has taken it, the
/// session reads the socket itself.
final class TLSSession {
    enum Step: Equatable {
        case done
        /// Needs the socket readable (or writable: `wantsWrite`).
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

    let ssl: OpaquePointer
    private let socket: OpaquePointer
    /// The ClientHello, until OpenSSL has read all of it.
    private var prefix: OpaquePointer?
    /// The last operation waits for the socket to be writable (else readable).
    private(set) var wantsWrite = false
    private(set) var handshakeDone = false

    /// `prefix`: bytes already read from the socket that the session must see first.
    init?(context: OpaquePointer, accepting: Bool, fd: Int32, prefix bytes: [UInt8]? = nil) {
        guard let ssl = SSL_new(context) else { return nil }
        guard let socket = BIO_new_socket(fd, BIO_NOCLOSE) else {
            SSL_free(ssl)
            return nil
        }
        if let bytes {
            guard let memory = BIO_new(BIO_s_mem()) else {
                BIO_free(socket)
                SSL_free(ssl)
                return nil
            }
            guard bytes.withUnsafeBytes({ BIO_write(memory, $0.baseAddress, Int32($0.count)) }) == Int32(bytes.count) else {
                BIO_free(memory)
                BIO_free(socket)
                SSL_free(ssl)
                return nil
            }
            wd_tls_bio_set_retry_when_empty(memory)
            SSL_set0_rbio(ssl, memory)
            SSL_set0_wbio(ssl, socket)
            prefix = memory
        } else {
            SSL_set_bio(ssl, socket, socket)
        }
        if accepting { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.socket = socket
    }

    deinit {
        SSL_free(ssl)
    }

    /// Once the ClientHello is all inside OpenSSL, the session reads the socket.
    private func dropPrefixWhenRead() {
        guard let prefix, BIO_ctrl_pending(prefix) == 0 else { return }
        BIO_up_ref(socket)
        SSL_set0_rbio(ssl, socket)
        self.prefix = nil
    }

    /// Decrypted records waiting inside OpenSSL (read ahead of the guard's reads): epoll cannot
    /// see them, so the connection runs again while there are some.
    var hasPending: Bool { SSL_has_pending(ssl) == 1 }

    // MARK: - Operations

    func handshake() -> Step {
        guard !handshakeDone else { return .done }
        let result = SSL_do_handshake(ssl)
        // The reason is read before the ClientHello's BIO is replaced: SSL_get_error looks at
        // the current BIO's retry flags.
        let error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result)
        let code = errno
        dropPrefixWhenRead()
        if result == 1 {
            handshakeDone = true
            wantsWrite = false
            return .done
        }
        if waits(error) { return .more }
        switch error {
        case SSL_ERROR_SYSCALL:
            ERR_clear_error()
            return .failed(code == 0 ? "the peer closed the connection during the TLS handshake" : "TLS handshake failed: \(errnoDescription(code))")
        default:
            return .failed(failure("handshake"))
        }
    }

    /// Decrypts one record at most into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .more }
        let n = SSL_read(ssl, base, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 {
            wantsWrite = false
            return .bytes(Int(n))
        }
        let error = SSL_get_error(ssl, n)
        if waits(error) { return .more }
        switch error {
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

    /// Encrypts and sends as much of `bytes` as the socket takes: the count, 0 when it must
    /// wait (then retried with the same bytes first), nil on failure.
    func write(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty else { return 0 }
        let n = SSL_write(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
        if n > 0 {
            wantsWrite = false
            return Int(n)
        }
        if waits(SSL_get_error(ssl, n)) { return 0 }
        ERR_clear_error()
        return nil
    }

    /// WANT_READ or WANT_WRITE: the operation waits for the socket (which way is noted).
    private func waits(_ error: Int32) -> Bool {
        guard error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE else { return false }
        wantsWrite = error == SSL_ERROR_WANT_WRITE
        ERR_clear_error()
        return true
    }

    /// Sends close_notify (best effort: the connection is ending).
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
