import WardenSystem

/// A record as JSON (`warden audit export`, `--json`, the JSON Lines stream): times in RFC 3339,
/// flags as a list, the decision as allow or deny.
public struct AuditJSON: Encodable, Sendable {
    public var sequence: Int64
    public var time: String
    public var runID: String
    public var agentID: String
    public var owner: UInt32
    public var kind: String
    public var proto: String
    public var address: String
    public var port: Int
    public var name: String
    public var nameSource: String
    public var method: String
    public var path: String
    public var bytesUp: Int64
    public var bytesDown: Int64
    public var durationMilliseconds: Int64
    public var decision: String
    public var rule: String
    public var reason: String
    public var flags: [String]
    public var count: Int64
    public var detail: String
    public var hash: String

    public init(_ stored: StoredAuditRecord) {
        let r = stored.record
        sequence = stored.sequence
        time = Timestamp.text(r.time / 1000, milliseconds: Int32(r.time % 1000))
        runID = r.runID
        agentID = r.agentID
        owner = r.owner
        kind = r.kind.rawValue
        proto = r.proto
        address = r.address
        port = r.port
        name = r.name
        nameSource = r.nameSource
        method = r.method
        path = r.path
        bytesUp = r.bytesUp
        bytesDown = r.bytesDown
        durationMilliseconds = r.durationMilliseconds
        decision = r.decisionText
        rule = r.rule
        reason = r.reason
        flags = r.flags.isEmpty ? [] : r.flags.split(separator: ",").map(String.init)
        count = r.count
        detail = r.detail
        hash = stored.hash
    }
}

extension AuditJSON {
    /// The record as one JSON line, keys sorted, slashes unescaped: what JSONEncoder with
    /// `.sortedKeys` and `.withoutEscapingSlashes` writes, built directly. The stream encodes
    /// every record, and the generic encoder cost more than writing the record itself.
    public static func line(_ stored: StoredAuditRecord) -> String {
        let r = stored.record
        let time = Timestamp.text(r.time / 1000, milliseconds: Int32(r.time % 1000))
        // Every text byte may become six ("\u001f"); keys, numbers and punctuation fit in 1 KiB.
        var texts = r.address.utf8.count + r.agentID.utf8.count + r.detail.utf8.count + r.flags.utf8.count * 2 + stored.hash.utf8.count
        texts += r.kind.rawValue.utf8.count + r.method.utf8.count + r.name.utf8.count + r.nameSource.utf8.count + r.path.utf8.count
        texts += r.proto.utf8.count + r.reason.utf8.count + r.rule.utf8.count + r.runID.utf8.count + time.utf8.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: texts * 6 + 1024) { buffer in
            var out = LineWriter(base: buffer.baseAddress!)
            out.fields(stored, time: time)
            return String(decoding: out.raw.written, as: UTF8.self)
        }
    }

    /// Writes the JSON object at a raw pointer (the caller sized the buffer for the worst case).
    private struct LineWriter {
        var raw: RawByteWriter
        var first = true

        init(base: UnsafeMutablePointer<UInt8>) {
            raw = RawByteWriter(base: base)
        }

        mutating func byte(_ value: UInt8) { raw.byte(value) }

        mutating func key(_ name: StaticString) {
            byte(first ? 0x7B : 0x2C)
            first = false
            byte(0x22)
            name.withUTF8Buffer { raw.bytes($0) }
            byte(0x22)
            byte(0x3A)
        }

        mutating func string(_ name: StaticString, _ value: String) {
            key(name)
            quoted(value)
        }

        static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

        mutating func quoted(_ value: String) {
            byte(0x22)
            var value = value
            value.withUTF8 { text in
                for character in text {
                    switch character {
                    case 0x22: byte(0x5C); byte(0x22)
                    case 0x5C: byte(0x5C); byte(0x5C)
                    case 0x0A: byte(0x5C); byte(0x6E)
                    case 0x0D: byte(0x5C); byte(0x72)
                    case 0x09: byte(0x5C); byte(0x74)
                    case 0x08: byte(0x5C); byte(0x62)
                    case 0x0C: byte(0x5C); byte(0x66)
                    case 0..<0x20:
                        byte(0x5C); byte(0x75); byte(0x30); byte(0x30)
                        byte(Self.hexDigits[Int(character >> 4)]); byte(Self.hexDigits[Int(character & 0xF)])
                    default: byte(character)
                    }
                }
            }
            byte(0x22)
        }

        mutating func number(_ name: StaticString, _ value: Int64) {
            key(name)
            raw.decimal(value)
        }

        mutating func fields(_ stored: StoredAuditRecord, time: String) {
            let r = stored.record
            string("address", r.address)
            string("agentID", r.agentID)
            number("bytesDown", r.bytesDown)
            number("bytesUp", r.bytesUp)
            number("count", r.count)
            string("decision", r.decisionText)
            string("detail", r.detail)
            number("durationMilliseconds", r.durationMilliseconds)
            key("flags")
            byte(0x5B)
            if !r.flags.isEmpty {
                for (index, flag) in r.flags.split(separator: ",").enumerated() {
                    if index > 0 { byte(0x2C) }
                    quoted(String(flag))
                }
            }
            byte(0x5D)
            string("hash", stored.hash)
            string("kind", r.kind.rawValue)
            string("method", r.method)
            string("name", r.name)
            string("nameSource", r.nameSource)
            number("owner", Int64(r.owner))
            string("path", r.path)
            number("port", Int64(r.port))
            string("proto", r.proto)
            string("reason", r.reason)
            string("rule", r.rule)
            string("runID", r.runID)
            number("sequence", stored.sequence)
            string("time", time)
            byte(0x7D)
        }
    }
}
