import Testing
import NetGuard

private typealias W = DNSTestBytes

@Suite("DNS messages: well-formed traffic")
struct DNSMessageTests {
    @Test("query → parse → REFUSED answer → parse response, byte for byte")
    func roundTrip() throws {
        let bytes = DNSMessageBuilder.query(id: 0x1234, name: "www.example.com", type: DNSRecordType.aaaa)
        #expect(bytes == [
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            3, 0x77, 0x77, 0x77, 7, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 3, 0x63, 0x6f, 0x6d, 0,
            0x00, 0x1c, 0x00, 0x01,
        ])
        let query = try #require(W.query(bytes))
        #expect(query == DNSQuery(
            id: 0x1234, opcode: 0, recursionDesired: true,
            question: DNSQuestion(name: "www.example.com", type: 28, recordClass: 1, wireLength: 17), hasEDNS: false))

        let refused = DNSMessageBuilder.answer(to: query, rcode: DNSResponseCode.refused)
        // QR, RD echoed, RA, RCODE 5; QDCOUNT 1; the question as it came.
        #expect(refused == [0x12, 0x34, 0x81, 0x85, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] + bytes[12...])
        let response = try #require(W.parseResponse(refused))
        #expect(response == DNSResponse(
            id: 0x1234, rcode: 5, truncated: false, question: query.question, answers: [], length: 33))
        #expect(W.reason(refused) == "QR=1: a response, not a query")
        #expect(W.parseResponse(bytes) == nil, "a query is not a response")
    }

    @Test("opcode and RD are echoed as they came")
    func opcodeEchoed() throws {
        // STATUS (opcode 2), RD clear.
        let bytes = W.header(id: 7, flags: 0x1000) + W.name("a.test") + W.u16(1) + W.u16(1)
        let query = try #require(W.query(bytes))
        #expect(query.opcode == 2)
        #expect(query.recursionDesired == false)
        let answer = DNSMessageBuilder.answer(to: query, rcode: DNSResponseCode.notImplemented)
        #expect(Array(answer[0..<4]) == [0x00, 0x07, 0x90, 0x84])
        #expect(Array(answer[12...]) == Array(bytes[12...]))
    }

    @Test("a dig query: RD, EDNS with a cookie")
    func digQuery() throws {
        let query = try #require(W.query(W.digQuery))
        #expect(query == DNSQuery(
            id: 0x1c2b, opcode: 0, recursionDesired: true,
            question: DNSQuestion(name: "example.com", type: 1, recordClass: 1, wireLength: 13), hasEDNS: true))
        let servfail = DNSMessageBuilder.answer(to: query, rcode: DNSResponseCode.serverFailure)
        #expect(servfail == [0x1c, 0x2b, 0x81, 0x82, 0, 1, 0, 0, 0, 0, 0, 0] + Array(W.digQuery[12..<29]))
    }

    @Test("a resolver's response: CNAME and A through backward pointers, OPT skipped")
    func githubResponse() throws {
        let response = try #require(W.parseResponse(W.githubResponse))
        #expect(response == DNSResponse(
            id: 0x8a3f, rcode: 0, truncated: false,
            question: DNSQuestion(name: "www.github.com", type: 1, recordClass: 1, wireLength: 16),
            answers: [
                DNSAnswer(name: "www.github.com", type: 5, ttl: 3600, data: .cname("github.com")),
                DNSAnswer(name: "github.com", type: 1, ttl: 60, data: .a([140, 82, 121, 4])),
            ],
            length: 73))
        #expect(W.reason(W.githubResponse) == "QR=1: a response, not a query")
    }

    @Test("the response builder compresses names as a server does, and parses back")
    func responseBuilder() throws {
        let query = try #require(W.query(DNSMessageBuilder.query(id: 9, name: "www.example.com", type: 1)))
        let answers = [
            DNSAnswer(name: "www.example.com", type: 5, ttl: 300, data: .cname("edge.example.com")),
            DNSAnswer(name: "edge.example.com", type: 1, ttl: 20, data: .a([10, 0, 0, 1])),
            DNSAnswer(name: "edge.example.com", type: 28, ttl: 20, data: .aaaa([0xfd] + Array(repeating: 0, count: 14) + [1])),
        ]
        let bytes = DNSMessageBuilder.response(to: query, answers: answers)
        let expected: [UInt8] =
            W.header(id: 9, flags: 0x8180, an: 3) + W.name("www.example.com") + W.u16(1) + W.u16(1)
            + [0xC0, 0x0C] + W.recordTail(type: 5, rdata: [4, 0x65, 0x64, 0x67, 0x65, 0xC0, 0x10])
            + [0xC0, 0x2D] + W.recordTail(type: 1, ttl: 20, rdata: [10, 0, 0, 1])
            + [0xC0, 0x2D] + W.recordTail(type: 28, ttl: 20, rdata: [0xfd] + Array(repeating: 0, count: 14) + [1])
        #expect(bytes == expected)
        let response = try #require(W.parseResponse(bytes))
        #expect(response.answers == answers)
        #expect(response.question == query.question)
        #expect(response.rcode == 0)
    }

    @Test("\\DDD escapes for odd bytes, and the answer echoes them exactly")
    func escapes() throws {
        let odd: [UInt8] = [0x61, 0x2E, 0x20, 0x5C, 0xFF, 0x00, 0x5F, 0x2D, 0x2A]
        let question = W.name([odd, Array("com".utf8)]) + W.u16(16) + W.u16(1)
        let bytes = W.header(flags: 0x0100) + question
        let query = try #require(W.query(bytes))
        #expect(query.question.name == "a\\046\\032\\092\\255\\000_-\\042.com")
        #expect(query.question.wireLength == 15)

        let answer = DNSMessageBuilder.answer(to: query, rcode: DNSResponseCode.nameError)
        #expect(Array(answer[12...]) == question)
        #expect(W.parseResponse(answer)?.question == query.question)
        // Text → wire → text is exact too.
        let rebuilt = DNSMessageBuilder.query(id: 1, name: query.question.name, type: 16)
        #expect(Array(rebuilt[12...]) == question)
    }

    @Test("upper case is lowered, in the text and in the echoed question")
    func uppercase() throws {
        let bytes = DNSMessageBuilder.query(id: 2, name: "WWW.ExAmple.COM.", type: 1)
        #expect(Array(bytes[12..<17]) == [3, 0x57, 0x57, 0x57, 7])
        let query = try #require(W.query(bytes))
        #expect(query.question.name == "www.example.com")
        #expect(query.question.wireLength == 17)
        let answer = DNSMessageBuilder.answer(to: query, rcode: 5)
        #expect(Array(answer[12..<29]) == W.name("www.example.com"))
    }

    @Test("root and the text forms the builders accept or refuse")
    func textForms() throws {
        let root = DNSMessageBuilder.query(id: 3, name: "", type: DNSRecordType.ns)
        #expect(Array(root[12...]) == [0, 0, 2, 0, 1])
        #expect(DNSMessageBuilder.query(id: 3, name: ".", type: 2) == root)
        let query = try #require(W.query(root))
        #expect(query.question == DNSQuestion(name: "", type: 2, recordClass: 1, wireLength: 1))
        let label63 = String(repeating: "a", count: 63)
        #expect(DNSMessageBuilder.query(id: 3, name: label63 + ".com", type: 1).count == 12 + 64 + 5 + 4)
        for bad in ["a..b", ".a", String(repeating: "a", count: 64), "a\\12", "a\\256", "a\\x41b",
                    [label63, label63, label63, label63].joined(separator: ".")] {
            #expect(DNSMessageBuilder.query(id: 3, name: bad, type: 1) == [], "\(bad)")
        }
        #expect(Array(DNSMessageBuilder.query(id: 3, name: "a\\065b", type: 1)[12...]) == [3, 0x61, 0x41, 0x62, 0, 0, 1, 0, 1])
    }

    @Test("TXT: RDLENGTH is reported; strings must end at RDLENGTH")
    func txt() throws {
        let query = try #require(W.query(DNSMessageBuilder.query(id: 4, name: "t.example", type: 16)))
        for length in [0, 1, 256, 300, 1000] {
            let bytes = DNSMessageBuilder.response(
                to: query, answers: [DNSAnswer(name: "t.example", type: 16, ttl: 5, data: .txt(length: length))])
            #expect(W.parseResponse(bytes)?.answers.first?.data == .txt(length: length), "\(length)")
        }
        let overrun = W.header(flags: 0x8180, an: 1) + W.name("t.example") + W.u16(16) + W.u16(1)
            + [0xC0, 0x0C] + W.recordTail(type: 16, rdata: [2, 0x68, 0x69, 9, 0x78])
        #expect(W.parseResponse(overrun) == nil)
        let exact = W.header(flags: 0x8180, an: 1) + W.name("t.example") + W.u16(16) + W.u16(1)
            + [0xC0, 0x0C] + W.recordTail(type: 16, rdata: [2, 0x68, 0x69, 1, 0x78, 0])
        #expect(W.parseResponse(exact)?.answers == [DNSAnswer(name: "t.example", type: 16, ttl: 300, data: .txt(length: 6))])
    }

    @Test("TC flag, rcode, and a response without a question")
    func flags() throws {
        let truncated = W.header(id: 5, flags: 0x8380) + W.name("big.example") + W.u16(16) + W.u16(1)
        #expect(W.parseResponse(truncated) == DNSResponse(
            id: 5, rcode: 0, truncated: true,
            question: DNSQuestion(name: "big.example", type: 16, recordClass: 1, wireLength: 13), answers: [],
            length: 29))
        let bare = W.header(id: 6, flags: 0x8182, qd: 0)
        #expect(W.parseResponse(bare) == DNSResponse(
            id: 6, rcode: 2, truncated: false, question: nil, answers: [], length: 12))
    }

    @Test("EDNS: one root-owned OPT record in the additional section")
    func edns() throws {
        let base = W.name("example.com") + W.u16(1) + W.u16(1)
        #expect(W.query(W.header(flags: 0x0100) + base)?.hasEDNS == false)
        #expect(W.query(W.header(flags: 0x0100, ar: 1) + base + W.opt)?.hasEDNS == true)
        // Another additional record (pointing back at the question) is no EDNS.
        let other = [0xC0, 0x0C] + W.recordTail(type: 1, rdata: [1, 2, 3, 4])
        #expect(W.query(W.header(flags: 0x0100, ar: 1) + base + other)?.hasEDNS == false)
        #expect(W.query(W.header(flags: 0x0100, ar: 2) + base + other + W.opt)?.hasEDNS == true)
        #expect(W.reason(W.header(flags: 0x0100, ar: 2) + base + W.opt + W.opt) == "more than one OPT record")
        let owned = [0xC0, 0x0C] + W.opt.dropFirst()
        #expect(W.reason(W.header(flags: 0x0100, ar: 1) + base + owned) == "the OPT record's name is not the root")
    }

    @Test("A must be 4 bytes and AAAA 16; other types are listed by length")
    func addressLengths() throws {
        let query = try #require(W.query(DNSMessageBuilder.query(id: 8, name: "x.test", type: 1)))
        func parse(_ answer: DNSAnswer) -> DNSResponse? {
            W.parseResponse(DNSMessageBuilder.response(to: query, answers: [answer]))
        }
        #expect(parse(DNSAnswer(name: "x.test", type: 1, ttl: 1, data: .other(length: 5))) == nil)
        #expect(parse(DNSAnswer(name: "x.test", type: 1, ttl: 1, data: .other(length: 16))) == nil)
        #expect(parse(DNSAnswer(name: "x.test", type: 28, ttl: 1, data: .a([1, 2, 3, 4]))) == nil)
        #expect(parse(DNSAnswer(name: "x.test", type: 99, ttl: 1, data: .other(length: 7)))?.answers.first?.data
            == .other(length: 7))
        #expect(DNSMessageBuilder.response(to: query, answers: [DNSAnswer(name: "x.test", type: 1, ttl: 1, data: .a([1]))])
            == [])
    }

    @Test("a TTL with the top bit set is read as 0")
    func ttl() throws {
        let query = try #require(W.query(DNSMessageBuilder.query(id: 8, name: "x.test", type: 1)))
        let bytes = DNSMessageBuilder.response(to: query, answers: [
            DNSAnswer(name: "x.test", type: 1, ttl: 0x8000_0000, data: .a([1, 2, 3, 4])),
            DNSAnswer(name: "x.test", type: 1, ttl: 0x7FFF_FFFF, data: .a([1, 2, 3, 5])),
        ])
        #expect(W.parseResponse(bytes)?.answers.map(\.ttl) == [0, 0x7FFF_FFFF])
    }

    @Test("TCP framing: a big-endian length prefix")
    func tcpFraming() {
        #expect(DNSMessageBuilder.tcpFramed([1, 2, 3]) == [0, 3, 1, 2, 3])
        #expect(DNSMessageBuilder.tcpFramed(Array(repeating: 7, count: 300)).prefix(3) == [0x01, 0x2C, 7])
        #expect(DNSMessageBuilder.tcpFramed(Array(repeating: 0, count: 65_536)) == [])
    }
}
