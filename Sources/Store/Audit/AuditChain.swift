import CCrypto
import WardenSystem

/// The hash chain over audit records: each record's hash covers the previous record's hash
/// and every field of the record, length-prefixed so no two different records encode the
/// same (a field cannot borrow bytes from its neighbour). Editing, inserting or deleting a
/// record changes every later expected hash, so `verify` finds the first record that breaks.
/// (A rewritten chain or a cut tail needs keyed checkpoints on top: R26.)
public enum AuditChain {
    /// The "previous hash" of the first record.
    public static let genesis = String(repeating: "0", count: 64)

    /// The encoding is written through a raw pointer into one buffer sized up front, without
    /// intermediate strings: the writer hashes every record, and this is most of its work
    /// (`make bench`, audit ingest).
    public static func hash(previous: String, _ record: AuditRecord) -> String {
        // 14 text fields (a length prefix of at most 20 digits and a colon each) and 9 numbers
        // (at most 2 + 1 + 20 bytes each), plus the texts themselves.
        var capacity = 14 * 22 + 9 * 42 + previous.utf8.count + record.runID.utf8.count + record.agentID.utf8.count
        capacity += record.kind.rawValue.utf8.count + record.proto.utf8.count + record.address.utf8.count + record.name.utf8.count
        capacity += record.nameSource.utf8.count + record.method.utf8.count + record.path.utf8.count + record.rule.utf8.count
        capacity += record.reason.utf8.count + record.flags.utf8.count + record.detail.utf8.count
        var digest = [UInt8](repeating: 0, count: 32)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var writer = Writer(base: buffer.baseAddress!)
            writer.text(previous)
            writer.number(record.time)
            writer.text(record.runID)
            writer.text(record.agentID)
            writer.number(Int64(record.owner))
            writer.text(record.kind.rawValue)
            writer.text(record.proto)
            writer.text(record.address)
            writer.number(Int64(record.port))
            writer.text(record.name)
            writer.text(record.nameSource)
            writer.text(record.method)
            writer.text(record.path)
            writer.number(record.bytesUp)
            writer.number(record.bytesDown)
            writer.number(record.durationMilliseconds)
            writer.number(record.allowed ? 1 : 0)
            writer.text(record.rule)
            writer.text(record.reason)
            writer.text(record.flags)
            writer.number(record.count)
            writer.text(record.detail)
            // OpenSSL's SHA-256 (vectorised); Warden's own (kept for the launch path, which
            // loads no crypto library) if it fails. Same digest: `theChainEncodingIsStable`.
            var length: UInt32 = 0
            if EVP_Digest(writer.base, writer.count, &digest, &length, EVP_sha256(), nil) != 1 || length != 32 {
                var hasher = SHA256()
                hasher.update(buffer: UnsafeRawBufferPointer(start: writer.base, count: writer.count))
                digest = hasher.finish()
            }
        }
        return hexString(digest)
    }

    /// Appends length-prefixed fields ("5:hello", "2:42").
    private struct Writer {
        var raw: RawByteWriter

        init(base: UnsafeMutablePointer<UInt8>) {
            raw = RawByteWriter(base: base)
        }

        var base: UnsafeMutablePointer<UInt8> { raw.base }
        var count: Int { raw.count }

        mutating func text(_ value: String) {
            var value = value
            value.withUTF8 { bytes in
                raw.decimal(Int64(bytes.count))
                raw.byte(0x3A)
                raw.bytes(bytes)
            }
        }

        mutating func number(_ value: Int64) {
            raw.decimal(Int64(RawByteWriter.digits(value.magnitude) + (value < 0 ? 1 : 0)))
            raw.byte(0x3A)
            raw.decimal(value)
        }
    }
}
