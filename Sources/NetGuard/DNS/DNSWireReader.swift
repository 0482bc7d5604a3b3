/// Why a message was refused; the text ends up in audit records, so it says which rule broke.
struct DNSWireError: Error, Sendable, Equatable {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    static func truncated(_ what: String) -> DNSWireError {
        DNSWireError("message ends inside \(what)")
    }
}

/// A resource record's fixed fields, with its RDATA left where it lies in the message so each
/// type decides how to read it (a CNAME's may point back into the message).
struct DNSRawRecord {
    var name: DNSName
    var type: UInt16
    var recordClass: UInt16
    var ttl: UInt32
    /// Offset of the RDATA in the message.
    var dataStart: Int
    var dataLength: Int
}

/// A cursor over a message from the network. Every read checks the bounds itself: the buffer's
/// own subscript checks nothing in release builds, and every byte here is hostile.
struct DNSWireReader {
    /// The fixed header (RFC 1035 §4.1.1); no name can live inside it.
    static let headerLength = 12
    /// A name has at most 127 labels, so a longer chain of pointers must hop pointer to pointer,
    /// which no encoder writes; the cap bounds the work one name can cost.
    static let maxPointerHops = 128

    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    // `what` names the field for the error only; an autoclosure keeps the interpolation off the
    // path of well-formed messages.

    mutating func u8(_ what: @autoclosure () -> String) throws(DNSWireError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(what()) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16(_ what: @autoclosure () -> String) throws(DNSWireError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated(what()) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(DNSWireError) -> UInt32 {
        let high = try u16(what())
        let low = try u16(what())
        return UInt32(high) << 16 | UInt32(low)
    }

    mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws(DNSWireError) {
        guard count >= 0, remaining >= count else { throw .truncated(what()) }
        offset += count
    }

    /// Reads a name and leaves the cursor after its bytes in place (after the first pointer,
    /// when there is one).
    ///
    /// A pointer must land before the start of the run of labels it ends: before the name
    /// itself, or before the previous pointer's target. Targets then fall strictly at every hop,
    /// so no chain can loop, and a pointer can never reach bytes not yet validated as a name.
    /// Every encoder points at names written earlier, so this refuses no real message.
    mutating func name(_ what: @autoclosure () -> String) throws(DNSWireError) -> DNSName {
        var labels: [[UInt8]] = []
        var length = 1
        var position = offset
        var runStart = offset
        var resume: Int?
        var hops = 0
        while true {
            guard position < bytes.count else { throw .truncated(what()) }
            let lengthByte = bytes[position]
            switch lengthByte & 0xC0 {
            case 0x00:
                if lengthByte == 0 {
                    offset = resume ?? position + 1
                    return DNSName(labels: labels)
                }
                let labelLength = Int(lengthByte)
                guard bytes.count - position - 1 >= labelLength else { throw .truncated(what()) }
                length += 1 + labelLength
                guard length <= DNSName.maxWireLength else {
                    throw DNSWireError("\(what()) is longer than \(DNSName.maxWireLength) bytes")
                }
                labels.append(Array(bytes[(position + 1)..<(position + 1 + labelLength)]))
                position += 1 + labelLength
            case 0xC0:
                guard bytes.count - position >= 2 else { throw .truncated(what()) }
                let target = Int(lengthByte & 0x3F) << 8 | Int(bytes[position + 1])
                guard target >= Self.headerLength else {
                    throw DNSWireError("\(what()) has a compression pointer into the header (to \(target))")
                }
                guard target < runStart else {
                    throw DNSWireError(
                        "\(what()) has a compression pointer that does not point backwards (\(position) to \(target))")
                }
                hops += 1
                guard hops <= Self.maxPointerHops else {
                    throw DNSWireError("\(what()) has more than \(Self.maxPointerHops) compression pointers")
                }
                if resume == nil { resume = position + 2 }
                runStart = target
                position = target
            default:
                // 0x40 and 0x80: extended and reserved label types (RFC 6891 §5), or a plain
                // label claiming more than 63 bytes.
                throw DNSWireError(
                    "\(what()) has a label length byte \(lengthByte): over \(DNSName.maxLabelLength) or an unsupported label type")
            }
        }
    }

    /// A question's name, type and class.
    mutating func question() throws(DNSWireError) -> DNSQuestion {
        let name = try name("the question name")
        let type = try u16("the question type")
        let recordClass = try u16("the question class")
        return DNSQuestion(name: name.text, type: type, recordClass: recordClass, wireLength: name.wireLength)
    }

    /// A resource record's fixed fields (`section`: "an answer", "an additional"...); the
    /// cursor ends after its RDATA, which is known to lie inside the message.
    mutating func record(_ section: String) throws(DNSWireError) -> DNSRawRecord {
        let name = try name("\(section) record name")
        let type = try u16("\(section) record type")
        let recordClass = try u16("\(section) record class")
        let ttl = try u32("\(section) record TTL")
        let dataLength = Int(try u16("\(section) record RDLENGTH"))
        let dataStart = offset
        try skip(dataLength, "\(section) record's RDATA")
        return DNSRawRecord(
            name: name, type: type, recordClass: recordClass, ttl: ttl, dataStart: dataStart, dataLength: dataLength)
    }
}
