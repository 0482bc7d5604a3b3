/// Writes the messages the guard sends itself (its refusals) and those tests and test servers
/// need.
///
/// Every builder returns an empty array when its input has no wire form (a name with an empty
/// or over-long label, an A record that is not 4 bytes, a message over 65,535 bytes): a
/// caller can check `isEmpty`, and no half-written message ever reaches a socket. A query that
/// `DNSMessageParser.parseQuery` returned always has a wire form.
public enum DNSMessageBuilder {
    /// The answer to `query` with RCODE (5 REFUSED, 2 SERVFAIL, 3 NXDOMAIN...), QR=1, RA=1, the
    /// same id, opcode and RD, the question echoed, no records.
    ///
    /// The question is re-encoded from its text, which is lower-cased: a client that checks
    /// the echo byte for byte (0x20 case randomisation) sees its name lowered; stub resolvers
    /// compare names case-insensitively. Only the low 4 bits of `rcode` fit in the header.
    public static func answer(to query: DNSQuery, rcode: UInt8) -> [UInt8] {
        response(to: query, answers: [], rcode: rcode)
    }

    /// A standard query (RD=1, class IN) for tests and benchmarks.
    public static func query(id: UInt16, name: String, type: UInt16) -> [UInt8] {
        guard let name = DNSName(text: name) else { return [] }
        var writer = DNSWireWriter()
        writer.header(id: id, flags: 0x0100, questions: 1, answers: 0)
        writer.name(name)
        writer.u16(type)
        writer.u16(inClass)
        return writer.bytes
    }

    /// A response carrying `answers` (A/AAAA/CNAME/TXT data) for `query`, for test servers and
    /// tests.
    ///
    /// Names are compressed as a server would (pointers back to earlier suffixes), so parsing
    /// these exercises pointers. Each record is written with its own `type`, whatever its data:
    /// a test can write type A with `.other(length: 5)` to send a malformed address. TXT data
    /// is filled with "x" strings adding up to `length` bytes of RDATA; `.other` with zeros.
    public static func response(to query: DNSQuery, answers: [DNSAnswer], rcode: UInt8 = 0) -> [UInt8] {
        guard let question = DNSName(text: query.question.name), answers.count <= Int(UInt16.max) else { return [] }
        var writer = DNSWireWriter()
        let flags: UInt16 =
            0x8000 | UInt16(query.opcode & 0x0F) << 11 | (query.recursionDesired ? 0x0100 : 0) | 0x0080
            | UInt16(rcode & 0x0F)
        writer.header(id: query.id, flags: flags, questions: 1, answers: UInt16(answers.count))
        writer.name(question)
        writer.u16(query.question.type)
        writer.u16(query.question.recordClass)
        for answer in answers {
            guard writer.record(answer) else { return [] }
        }
        guard writer.bytes.count <= Int(UInt16.max) else { return [] }
        return writer.bytes
    }

    /// TCP framing: 2-byte big-endian length prefix (RFC 1035 §4.2.2). Empty for a message
    /// over 65,535 bytes, which the prefix cannot describe.
    public static func tcpFramed(_ message: [UInt8]) -> [UInt8] {
        guard let length = UInt16(exactly: message.count) else { return [] }
        return [UInt8(length >> 8), UInt8(length & 0xFF)] + message
    }

    private static let inClass: UInt16 = 1
}

/// Appends a message, remembering where each name suffix was written so later names can point
/// back to it.
struct DNSWireWriter {
    /// Pointers have 14 bits of offset.
    private static let maxPointerTarget = 0x3FFF

    private(set) var bytes: [UInt8] = []
    /// Canonical text of a suffix → its offset. Keyed by the lower-cased text because names
    /// compare case-insensitively.
    private var suffixes: [String: Int] = [:]

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    mutating func u32(_ value: UInt32) {
        u16(UInt16(value >> 16))
        u16(UInt16(value & 0xFFFF))
    }

    mutating func header(id: UInt16, flags: UInt16, questions: UInt16, answers: UInt16) {
        for field in [id, flags, questions, answers, 0, 0] { u16(field) }
    }

    mutating func name(_ name: DNSName) {
        for start in name.labels.indices {
            let key = DNSName.text(of: name.labels[start...])
            if let target = suffixes[key] {
                u16(0xC000 | UInt16(target))
                return
            }
            if bytes.count <= Self.maxPointerTarget { suffixes[key] = bytes.count }
            let label = name.labels[start]
            bytes.append(UInt8(label.count))
            bytes.append(contentsOf: label)
        }
        bytes.append(0)
    }

    /// Appends one answer record (class IN); false when its data has no wire form.
    mutating func record(_ answer: DNSAnswer) -> Bool {
        guard let owner = DNSName(text: answer.name) else { return false }
        name(owner)
        u16(answer.type)
        u16(1)
        u32(answer.ttl)
        let lengthOffset = bytes.count
        u16(0)
        let dataStart = bytes.count
        switch answer.data {
        case .a(let address):
            guard address.count == 4 else { return false }
            bytes.append(contentsOf: address)
        case .aaaa(let address):
            guard address.count == 16 else { return false }
            bytes.append(contentsOf: address)
        case .cname(let target):
            guard let target = DNSName(text: target) else { return false }
            name(target)
        case .txt(let length):
            guard (0...Int(UInt16.max)).contains(length) else { return false }
            var left = length
            while left > 0 {
                // Each string costs its length byte; a last single byte becomes an empty string.
                let count = min(left - 1, Int(UInt8.max))
                bytes.append(UInt8(count))
                bytes.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: count))
                left -= 1 + count
            }
        case .other(let length):
            guard (0...Int(UInt16.max)).contains(length) else { return false }
            bytes.append(contentsOf: repeatElement(0, count: length))
        }
        guard let dataLength = UInt16(exactly: bytes.count - dataStart) else { return false }
        bytes[lengthOffset] = UInt8(dataLength >> 8)
        bytes[lengthOffset + 1] = UInt8(dataLength & 0xFF)
        return true
    }
}
