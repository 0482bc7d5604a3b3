/// What a guard is given to inspect TLS: the sandbox's authority (made before the sandbox, so
/// that its certificate is in the sandbox's trust store from the first instruction) and the
/// CA files the policy adds for upstream verification.
public struct TLSInspection: Sendable {
    public let authority: TLSAuthority
    public let trustedCAs: [String]

    public init(authority: TLSAuthority, trustedCAs: [String]) {
        self.authority = authority
        self.trustedCAs = trustedCAs
    }

    /// Where the sandbox finds the authority's certificate (and, with the system's CAs, the
    /// bundle its programs verify against). Outside /etc, which install snapshots overlay.
    public static let certificatePath = "/run/warden/tls/warden-ca.pem"
    public static let bundlePath = "/run/warden/tls/ca-bundle.pem"
    /// The system bundle inside the sandbox, covered by `bundlePath` for programs that read it
    /// directly (OpenSSL's and GnuTLS's default on Debian).
    public static let systemBundlePath = "/etc/ssl/certs/ca-certificates.crt"

    /// The variables that point the usual clients at the bundle (curl, git, Python's requests
    /// and pip, Node, Cargo, OpenSSL itself).
    public static var environment: [(name: String, value: String)] {
        ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT", "CARGO_HTTP_CAINFO"].map { ($0, bundlePath) }
            + [("NODE_EXTRA_CA_CERTS", certificatePath)]
    }

    /// The bundle: the host's system CAs (so excluded hosts, tunnelled as they are, still
    /// verify), the policy's trusted CAs, and the sandbox's authority.
    public func bundle(systemBundle: String, trusted: [String]) -> String {
        var text = systemBundle
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        for pem in trusted {
            text += pem
            if !pem.hasSuffix("\n") { text += "\n" }
        }
        return text + "# Warden: this sandbox's own CA (TLS inspection)\n" + authority.certificatePEM
    }
}
