import WardenSystem

/// The hash chain over audit records: each record's hash covers the previous record's hash
/// and every field of the record, length-prefixed so no two different records encode the
/// same (a field cannot borrow bytes from its neighbour). Editing, inserting or deleting a
/// record changes every later expected hash, so `verify` finds the first record that breaks.
/// (A rewritten chain or a cut tail needs keyed checkpoints on top: R26.)
public enum AuditChain {
    /// The "previous hash" of the first record.
    public static let genesis = String(repeating: "0", count: 64)

    /// The encoding is built in one buffer without intermediate strings: the writer hashes
    /// every record, and this is most of its work (`make bench`, audit ingest).
    public static func hash(previous: String, _ record: AuditRecord) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(512)
        func decimal(_ number: Int64) {
            if number < 0 { buffer.append(0x2D) }
            var magnitude = number.magnitude
            var digits: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                         UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            withUnsafeMutableBytes(of: &digits) { raw in
                repeat {
                    raw[count] = UInt8(truncatingIfNeeded: magnitude % 10) + 0x30
                    magnitude /= 10
                    count += 1
                } while magnitude > 0
                while count > 0 {
                    count -= 1
                    buffer.append(raw[count])
                }
            }
        }
        func field(_ text: String) {
            decimal(Int64(text.utf8.count))
            buffer.append(0x3A)
            buffer.append(contentsOf: text.utf8)
        }
        func field(_ number: Int64) {
            var length: Int64 = number < 0 ? 2 : 1
            var rest = number.magnitude / 10
            while rest > 0 {
                length += 1
                rest /= 10
            }
            decimal(length)
            buffer.append(0x3A)
            decimal(number)
        }
        field(previous)
        field(record.time)
        field(record.runID)
        field(record.agentID)
        field(Int64(record.owner))
        field(record.kind.rawValue)
        field(record.proto)
        field(record.address)
        field(Int64(record.port))
        field(record.name)
        field(record.nameSource)
        field(record.method)
        field(record.path)
        field(record.bytesUp)
        field(record.bytesDown)
        field(record.durationMilliseconds)
        field(record.allowed ? 1 : 0)
        field(record.rule)
        field(record.reason)
        field(record.flags)
        field(record.count)
        field(record.detail)
        var hasher = SHA256()
        buffer.withUnsafeBytes { hasher.update(buffer: $0) }
        return hexString(hasher.finish())
    }
}
