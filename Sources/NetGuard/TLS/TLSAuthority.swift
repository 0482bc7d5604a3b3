import CTLS
import Glibc

/// One sandbox's certificate authority (R22): an EC P-256 key made when the sandbox starts,
/// held only in the memory of the process that runs its guard (never written anywhere, never
/// inside the sandbox), and a self-signed certificate that the sandbox trusts. It signs the
/// leaf certificates the guard presents for the hosts it inspects. It is valid for
/// `lifetime` only, so a certificate that escaped would soon be worthless.
public final class TLSAuthority: @unchecked Sendable {
    // Safe: created once, then only read (OpenSSL's objects are reference counted and
    // thread-safe for concurrent reads); freed in deinit.
    let key: OpaquePointer
    let certificate: OpaquePointer
    /// The key every minted leaf carries (one per authority: minting is then one signature).
    let leafKey: OpaquePointer
    /// The certificate in PEM, for the sandbox's trust store.
    public let certificatePEM: String
    /// Seconds since the epoch after which the authority is no longer valid.
    public let notAfter: Int64

    /// Eight days: agents run for hours. A sandbox still running when its CA lapses gets
    /// certificate errors from its clients (never an unverified connection) and is restarted.
    public static let defaultLifetime: Int64 = 8 * 86_400

    private init(key: OpaquePointer, certificate: OpaquePointer, leafKey: OpaquePointer, pem: String, notAfter: Int64) {
        self.key = key
        self.certificate = certificate
        self.leafKey = leafKey
        self.certificatePEM = pem
        self.notAfter = notAfter
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(key)
        EVP_PKEY_free(leafKey)
    }

    /// A fresh authority named after `label` (the run or agent id, so that a certificate seen
    /// in a client's error says which sandbox it belongs to).
    public static func generate(label: String, lifetime: Int64 = defaultLifetime) throws(GuardError) -> TLSAuthority {
        _ = initialised
        guard let key = newKey(), let leafKey = newKey() else {
            throw GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: cannot generate the sandbox's CA key"))
        }
        let now = Int64(time(nil))
        let safeLabel = String(label.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }.prefix(40).map(Character.init))
        guard let certificate = CertificateBuilder.make(subject: "Warden sandbox CA \(safeLabel)", publicKey: key, issuer: nil, signer: key,
                                                        notBefore: now - 3_600, notAfter: now + lifetime, names: nil) else {
            EVP_PKEY_free(key)
            EVP_PKEY_free(leafKey)
            throw GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: cannot make the sandbox's CA certificate"))
        }
        guard let pem = CertificateBuilder.pem(certificate) else {
            X509_free(certificate)
            EVP_PKEY_free(key)
            EVP_PKEY_free(leafKey)
            throw GuardError(.setupFailed, OpenSSLFailure.drain("TLS inspection: cannot encode the sandbox's CA certificate"))
        }
        return TLSAuthority(key: key, certificate: certificate, leafKey: leafKey, pem: pem, notAfter: now + lifetime)
    }

    /// A leaf for `name` (a validated DNS name), valid for a day at most and never past the
    /// authority. The caller owns the returned certificate.
    func mintLeaf(for name: String, now: Int64) -> OpaquePointer? {
        CertificateBuilder.make(subject: String(name.prefix(64)), publicKey: leafKey, issuer: certificate, signer: key,
                                notBefore: now - 3_600, notAfter: min(notAfter, now + 86_400), names: [name])
    }

    /// OpenSSL set up once per process, before its first use (see `wd_tls_initialise`).
    private static let initialised: Bool = wd_tls_initialise() == 1

    private static func newKey() -> OpaquePointer? {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1 else { return nil }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1 else { return nil }
        return key
    }
}
