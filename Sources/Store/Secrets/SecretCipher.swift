import CCrypto
import Glibc

/// AES-256-GCM through OpenSSL's libcrypto: each value sealed with a fresh random 96-bit
/// nonce, and authenticated together with `associated` data (the secret's owner, name, scope
/// and hosts), so a ciphertext moved to another row or given other hosts no longer opens.
public struct SecretCipher: Sendable {
    public static let keyBytes = 32
    static let nonceBytes = 12
    static let tagBytes = 16
    private let key: [UInt8]

    public init(key: [UInt8]) throws(StoreError) {
        guard key.count == Self.keyBytes else { throw StoreError(.unavailable, "the secrets key must be \(Self.keyBytes) bytes, not \(key.count)") }
        self.key = key
    }

    /// nonce ‖ ciphertext ‖ tag.
    public func seal(_ plaintext: [UInt8], associated: [UInt8]) throws(StoreError) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: Self.nonceBytes)
        guard RAND_bytes(&nonce, Int32(nonce.count)) == 1 else { throw StoreError(.unavailable, "no random bytes for a nonce") }
        guard let context = EVP_CIPHER_CTX_new() else { throw StoreError(.unavailable, "EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { throw Self.failure("init") }
        if !associated.isEmpty {
            guard EVP_EncryptUpdate(context, nil, &length, associated, Int32(associated.count)) == 1 else { throw Self.failure("aad") }
        }
        if !plaintext.isEmpty {
            guard output.withUnsafeMutableBufferPointer({ EVP_EncryptUpdate(context, $0.baseAddress, &length, plaintext, Int32(plaintext.count)) }) == 1 else {
                throw Self.failure("update")
            }
            total = Int(length)
        }
        guard output.withUnsafeMutableBufferPointer({ EVP_EncryptFinal_ex(context, $0.baseAddress! + total, &length) }) == 1 else { throw Self.failure("final") }
        total += Int(length)
        var tag = [UInt8](repeating: 0, count: Self.tagBytes)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagBytes), &tag) == 1 else { throw Self.failure("tag") }
        return nonce + output[0..<total] + tag
    }

    /// Fails (never returns garbage) when the key, the associated data or any byte differs.
    public func open(_ sealed: [UInt8], associated: [UInt8]) throws(StoreError) -> [UInt8] {
        guard sealed.count >= Self.nonceBytes + Self.tagBytes else { throw StoreError(.corrupt, "a sealed secret is too short") }
        let nonce = Array(sealed[0..<Self.nonceBytes])
        let body = Array(sealed[Self.nonceBytes..<(sealed.count - Self.tagBytes)])
        var tag = Array(sealed[(sealed.count - Self.tagBytes)...])
        guard let context = EVP_CIPHER_CTX_new() else { throw StoreError(.unavailable, "EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: body.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { throw Self.failure("init") }
        if !associated.isEmpty {
            guard EVP_DecryptUpdate(context, nil, &length, associated, Int32(associated.count)) == 1 else { throw Self.failure("aad") }
        }
        if !body.isEmpty {
            guard output.withUnsafeMutableBufferPointer({ EVP_DecryptUpdate(context, $0.baseAddress, &length, body, Int32(body.count)) }) == 1 else {
                throw Self.failure("update")
            }
            total = Int(length)
        }
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagBytes), &tag) == 1 else { throw Self.failure("tag") }
        guard output.withUnsafeMutableBufferPointer({ EVP_DecryptFinal_ex(context, $0.baseAddress! + total, &length) }) == 1 else {
            throw StoreError(.corrupt, "a secret does not open with this key (wrong key, or the record was altered)")
        }
        total += Int(length)
        return Array(output[0..<total])
    }

    private static func failure(_ step: String) -> StoreError {
        StoreError(.unavailable, "AES-GCM \(step) failed in libcrypto")
    }
}
