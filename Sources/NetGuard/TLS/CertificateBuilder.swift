import CTLS

/// X.509 v3 certificates for the sandbox's authority and its leaves, with the extensions strict
/// verifiers require (Python's VERIFY_X509_STRICT among them): a critical basicConstraints,
/// key usage, subject and authority key identifiers, and, for a leaf, serverAuth and the name in
/// subjectAltName (which is what clients match; the CN is informative only).
enum CertificateBuilder {
    /// `issuer` nil: self-signed authority. `names`: the leaf's DNS names (nil for the authority).
    static func make(subject: String, publicKey: OpaquePointer, issuer: OpaquePointer?, signer: OpaquePointer,
                     notBefore: Int64, notAfter: Int64, names: [String]?) -> OpaquePointer? {
        guard let certificate = X509_new() else { return nil }
        var ok = X509_set_version(certificate, 2) == 1
        ok = ok && setRandomSerial(certificate)
        ok = ok && X509_time_adj_ex(X509_getm_notBefore(certificate), 0, Int(notBefore - Int64(time(nil))), nil) != nil
        ok = ok && X509_time_adj_ex(X509_getm_notAfter(certificate), 0, Int(notAfter - Int64(time(nil))), nil) != nil
        if ok, let name = X509_NAME_new() {
            ok = X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, "Warden", -1, -1, 0) == 1
            ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, subject, -1, -1, 0) == 1
            ok = ok && X509_set_subject_name(certificate, name) == 1
            X509_NAME_free(name)
        } else {
            ok = false
        }
        ok = ok && X509_set_issuer_name(certificate, issuer.map { X509_get_subject_name($0) } ?? X509_get_subject_name(certificate)) == 1
        ok = ok && X509_set_pubkey(certificate, publicKey) == 1
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer ?? certificate, certificate, nil, nil, 0)
        if let names {
            ok = ok && addExtension(certificate, &context, NID_basic_constraints, "critical,CA:FALSE")
            ok = ok && addExtension(certificate, &context, NID_key_usage, "critical,digitalSignature")
            ok = ok && addExtension(certificate, &context, NID_ext_key_usage, "serverAuth")
            ok = ok && addExtension(certificate, &context, NID_subject_key_identifier, "hash")
            ok = ok && addExtension(certificate, &context, NID_authority_key_identifier, "keyid:always")
            ok = ok && addNames(certificate, names)
        } else {
            ok = ok && addExtension(certificate, &context, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
            ok = ok && addExtension(certificate, &context, NID_key_usage, "critical,keyCertSign,cRLSign")
            ok = ok && addExtension(certificate, &context, NID_subject_key_identifier, "hash")
            ok = ok && addExtension(certificate, &context, NID_authority_key_identifier, "keyid:always")
        }
        ok = ok && X509_sign(certificate, signer, EVP_sha256()) > 0
        guard ok else {
            X509_free(certificate)
            return nil
        }
        return certificate
    }

    static func free(_ certificate: OpaquePointer) {
        X509_free(certificate)
    }

    static func pem(_ certificate: OpaquePointer) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, certificate) == 1 else { return nil }
        let length = Int(wd_tls_bio_pending(bio))
        var bytes = [UInt8](repeating: 0, count: length)
        let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(length)) }
        guard read == Int32(length) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func setRandomSerial(_ certificate: OpaquePointer) -> Bool {
        guard let number = BN_new() else { return false }
        defer { BN_free(number) }
        // 127 random bits: positive, and unpredictable (no two leaves share a serial).
        guard BN_rand(number, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 else { return false }
        return BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil
    }

    private static func addExtension(_ certificate: OpaquePointer, _ context: inout X509V3_CTX, _ nid: Int32, _ value: String) -> Bool {
        guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { return false }
        defer { X509_EXTENSION_free(ext) }
        return X509_add_ext(certificate, ext, -1) == 1
    }

    /// subjectAltName built from the names themselves, never parsed from configuration text.
    private static func addNames(_ certificate: OpaquePointer, _ names: [String]) -> Bool {
        guard let list = wd_tls_general_names_new() else { return false }
        defer { wd_tls_general_names_free(list) }
        for name in names {
            guard wd_tls_add_dns_name(list, name, Int32(name.utf8.count)) == 1 else { return false }
        }
        return X509_add1_ext_i2d(certificate, NID_subject_alt_name, UnsafeMutableRawPointer(list), 0, 0) == 1
    }
}
