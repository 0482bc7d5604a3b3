/// HMAC-SHA256 (RFC 2104) over this module's SHA-256: the audit log's keyed checkpoints and
/// exported heads. Checked against RFC 4231's vectors in the test suite.
public enum HMACSHA256 {
    public static let blockSize = 64

    public static func mac(key: [UInt8], _ message: some Sequence<UInt8>) -> [UInt8] {
        var block = key
        if block.count > blockSize {
            var hasher = SHA256()
            hasher.update(block)
            block = hasher.finish()
        }
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        var inner = SHA256()
        inner.update(block.map { $0 ^ 0x36 })
        inner.update(message)
        let innerDigest = inner.finish()
        var outer = SHA256()
        outer.update(block.map { $0 ^ 0x5c })
        outer.update(innerDigest)
        return outer.finish()
    }

    /// Equal in time independent of where the two first differ (a MAC check must not tell an
    /// attacker how much of a forged MAC was right).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
