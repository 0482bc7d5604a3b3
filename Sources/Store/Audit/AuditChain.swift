import WardenSystem

/// The hash chain over audit records: each record's hash covers the previous record's hash
/// and every field of the record, length-prefixed so no two different records encode the
/// same (a field cannot borrow bytes from its neighbour). Editing, inserting or deleting a
/// record changes every later expected hash, so `verify` finds the first record that breaks.
/// (A rewritten chain or a cut tail needs keyed checkpoints on top: R26.)
public enum AuditChain {
    /// The "previous hash" of the first record.
    public static let genesis = String(repeating: "0", count: 64)

    public static func hash(previous: String, _ record: AuditRecord) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(256)
        func field(_ text: String) {
            buffer.append(contentsOf: String(text.utf8.count).utf8)
            buffer.append(0x3A)
            buffer.append(contentsOf: text.utf8)
        }
        func field(_ number: Int64) { field(String(number)) }
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
        return SHA256.hex(buffer)
    }
}
