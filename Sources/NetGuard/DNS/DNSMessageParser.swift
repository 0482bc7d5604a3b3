/// Reads the two kinds of message the guard's resolver sees: queries from the sandbox (hostile)
/// and responses from the upstream (carrying data an attacker's zone chose).
///
/// Both read every section and check every length against the buffer, so a message either
/// parses whole or is refused; nothing past a broken record is ever trusted.
public enum DNSMessageParser {
    /// A query: QR=0, exactly one question, QDCOUNT=1, ANCOUNT=0, NSCOUNT=0; labels ≤ 63
    /// bytes, names ≤ 255 bytes on the wire; compression pointers allowed only backwards;
    /// anything else → malformed(reason).
    ///
    /// The additional section is read too, for the OPT record (at most one, owned by the root,
    /// RFC 6891 §6.1.1), and no byte may follow it: the guard forwards the query, so nothing the
    /// parser did not look at may ride along.
    public static func parseQuery(_ bytes: UnsafeRawBufferPointer) -> DNSQueryParse {
        do throws(DNSWireError) {
            return .query(try query(bytes))
        } catch {
            return .malformed(error.reason)
        }
    }

    /// A response (QR=1); nil when malformed. Answer records of any type are listed; A must
    /// have rdlength 4, AAAA 16, else nil.
    ///
    /// At most one question. The authority and additional sections are read for their bounds,
    /// not kept. Bytes after the last record are ignored: the guard relays the message as it
    /// came and no client reads them either.
    public static func parseResponse(_ bytes: UnsafeRawBufferPointer) -> DNSResponse? {
        do throws(DNSWireError) {
            return try response(bytes)
        } catch {
            return nil
        }
    }

    private struct Header {
        var id: UInt16
        var flags: UInt16
        var questions: UInt16
        var answers: UInt16
        var authorities: UInt16
        var additionals: UInt16

        var isResponse: Bool { flags & 0x8000 != 0 }
        var opcode: UInt8 { UInt8(truncatingIfNeeded: flags >> 11) & 0x0F }
        var truncated: Bool { flags & 0x0200 != 0 }
        var recursionDesired: Bool { flags & 0x0100 != 0 }
        var rcode: UInt8 { UInt8(truncatingIfNeeded: flags) & 0x0F }

        init(_ reader: inout DNSWireReader) throws(DNSWireError) {
            guard reader.remaining >= DNSWireReader.headerLength else {
                throw DNSWireError(
                    "message is \(reader.remaining) bytes, shorter than the \(DNSWireReader.headerLength)-byte header")
            }
            id = try reader.u16("the header")
            flags = try reader.u16("the header")
            questions = try reader.u16("the header")
            answers = try reader.u16("the header")
            authorities = try reader.u16("the header")
            additionals = try reader.u16("the header")
        }
    }

    private static func query(_ bytes: UnsafeRawBufferPointer) throws(DNSWireError) -> DNSQuery {
        var reader = DNSWireReader(bytes)
        let header = try Header(&reader)
        guard !header.isResponse else { throw DNSWireError("QR=1: a response, not a query") }
        guard header.questions == 1 else { throw DNSWireError("QDCOUNT is \(header.questions), want 1") }
        guard header.answers == 0 else { throw DNSWireError("ANCOUNT is \(header.answers), want 0") }
        guard header.authorities == 0 else { throw DNSWireError("NSCOUNT is \(header.authorities), want 0") }
        let question = try reader.question()
        var hasEDNS = false
        for _ in 0..<header.additionals {
            let record = try reader.record("an additional")
            guard record.type == DNSRecordType.opt else { continue }
            guard !hasEDNS else { throw DNSWireError("more than one OPT record") }
            guard record.name.labels.isEmpty else { throw DNSWireError("the OPT record's name is not the root") }
            hasEDNS = true
        }
        guard reader.remaining == 0 else {
            throw DNSWireError("trailing bytes after the last record (\(reader.remaining))")
        }
        return DNSQuery(
            id: header.id, opcode: header.opcode, recursionDesired: header.recursionDesired, question: question,
            hasEDNS: hasEDNS)
    }

    private static func response(_ bytes: UnsafeRawBufferPointer) throws(DNSWireError) -> DNSResponse {
        var reader = DNSWireReader(bytes)
        let header = try Header(&reader)
        guard header.isResponse else { throw DNSWireError("QR=0: a query, not a response") }
        guard header.questions <= 1 else { throw DNSWireError("QDCOUNT is \(header.questions), want 0 or 1") }
        let question: DNSQuestion? = if header.questions == 1 { try reader.question() } else { nil }
        var answers: [DNSAnswer] = []
        answers.reserveCapacity(min(Int(header.answers), 64))
        for _ in 0..<header.answers {
            let record = try reader.record("an answer")
            answers.append(try answer(record, in: bytes))
        }
        for _ in 0..<(Int(header.authorities) + Int(header.additionals)) {
            _ = try reader.record("an authority or additional")
        }
        return DNSResponse(
            id: header.id, rcode: header.rcode, truncated: header.truncated, question: question, answers: answers,
            length: bytes.count)
    }

    /// The answer's data by type. The A and AAAA lengths are checked whatever the class: an
    /// address of the wrong size is an attack or a broken upstream, and either way the guard
    /// must not remember a wrong address for the name.
    private static func answer(_ record: DNSRawRecord, in bytes: UnsafeRawBufferPointer) throws(DNSWireError)
        -> DNSAnswer
    {
        let rdata = record.dataStart..<(record.dataStart + record.dataLength)
        let data: DNSAnswer.Data
        switch record.type {
        case DNSRecordType.a:
            guard record.dataLength == 4 else { throw DNSWireError("an A record with RDLENGTH \(record.dataLength)") }
            data = .a(Array(bytes[rdata]))
        case DNSRecordType.aaaa:
            guard record.dataLength == 16 else {
                throw DNSWireError("an AAAA record with RDLENGTH \(record.dataLength)")
            }
            data = .aaaa(Array(bytes[rdata]))
        case DNSRecordType.cname:
            // The target may point back into the message, but must end exactly at RDLENGTH.
            var target = DNSWireReader(bytes, offset: record.dataStart)
            let name = try target.name("a CNAME target")
            guard target.offset == rdata.upperBound else {
                throw DNSWireError("a CNAME target does not fill its RDLENGTH")
            }
            data = .cname(name.text)
        case DNSRecordType.txt:
            try checkCharacterStrings(bytes, rdata)
            data = .txt(length: record.dataLength)
        default:
            data = .other(length: record.dataLength)
        }
        // RFC 2181 §8: a TTL with the top bit set is to be read as zero.
        let ttl = record.ttl > UInt32(Int32.max) ? 0 : record.ttl
        return DNSAnswer(name: record.name.text, type: record.type, ttl: ttl, data: data)
    }

    /// TXT RDATA is a run of length-prefixed strings that must end exactly at RDLENGTH; one
    /// that overruns would make clients and the guard disagree on where the text ends.
    private static func checkCharacterStrings(_ bytes: UnsafeRawBufferPointer, _ rdata: Range<Int>)
        throws(DNSWireError)
    {
        var position = rdata.lowerBound
        while position < rdata.upperBound {
            let next = position + 1 + Int(bytes[position])
            guard next <= rdata.upperBound else { throw DNSWireError("a TXT string overruns its RDLENGTH") }
            position = next
        }
    }
}
