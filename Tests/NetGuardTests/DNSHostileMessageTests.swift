import Testing
import NetGuard

private typealias W = DNSTestBytes

@Suite("DNS messages: hostile input")
struct DNSHostileMessageTests {
    private static let aIN = W.u16(1) + W.u16(1)

    @Test("query compression pointers: forward, self and into the header are refused")
    func queryPointers() {
        let www: [UInt8] = [3, 0x77, 0x77, 0x77]
        #expect(W.reason(W.header(flags: 0x0100) + www + [0xC0, 0x20] + Self.aIN)
            == "the question name has a compression pointer that does not point backwards (16 to 32)")
        #expect(W.reason(W.header(flags: 0x0100) + [0xC0, 0x0C] + Self.aIN)
            == "the question name has a compression pointer that does not point backwards (12 to 12)")
        #expect(W.reason(W.header(flags: 0x0100) + [1, 0x61, 0xC0, 0x0C] + Self.aIN)
            == "the question name has a compression pointer that does not point backwards (14 to 12)")
        #expect(W.reason(W.header(flags: 0x0100) + [0xC0, 0x05] + Self.aIN)
            == "the question name has a compression pointer into the header (to 5)")
    }

    @Test("every pointer a query's question can start with is refused")
    func everyQuestionPointer() {
        var accepted = 0
        for pointer in UInt16(0xC000)...UInt16(0xFFFF) {
            if W.query(W.header(flags: 0x0100) + W.u16(pointer) + Self.aIN) != nil { accepted += 1 }
        }
        #expect(accepted == 0)
    }

    @Test("response pointers: backward chains parse; loops and forward hops do not")
    func responsePointers() throws {
        let question = W.header(flags: 0x8180, an: 1) + W.name("a.example") + Self.aIN
        let backward = question + [0xC0, 0x0E] + W.recordTail(type: 1, rdata: [192, 0, 2, 1])
        #expect(W.parseResponse(backward)?.answers == [DNSAnswer(name: "example", type: 1, ttl: 300, data: .a([192, 0, 2, 1]))])
        // The answer's owner at 27 points at itself.
        #expect(W.parseResponse(question + [0xC0, 27] + W.recordTail(type: 1, rdata: [192, 0, 2, 1])) == nil)
        // A label, then a pointer back to that label: "x.x.x.x…".
        #expect(W.parseResponse(question + [1, 0x78, 0xC0, 27] + W.recordTail(type: 1, rdata: [192, 0, 2, 1])) == nil)
        // A CNAME target pointing forward, into the next record, and one pointing at itself.
        let cnameHeader = W.header(flags: 0x8180, an: 2) + W.name("a.example") + Self.aIN + [0xC0, 0x0C]
        let forward = cnameHeader + W.recordTail(type: 5, rdata: [0xC0, 41]) + [1, 0x62, 0]
            + W.recordTail(type: 1, rdata: [1, 2, 3, 4])
        #expect(W.parseResponse(forward) == nil)
        let selfTarget = cnameHeader + W.recordTail(type: 5, rdata: [0xC0, 39])
        #expect(W.parseResponse(W.header(flags: 0x8180, an: 1) + selfTarget[12...]) == nil)
        // A CNAME target that ends before its RDLENGTH does.
        let short = W.header(flags: 0x8180, an: 1) + W.name("a.example") + Self.aIN + [0xC0, 0x0C]
            + W.recordTail(type: 5, rdata: [0xC0, 0x0C, 0])
        #expect(W.parseResponse(short) == nil)
    }

    /// Two pointers that send each other back and forth: the first hop goes backwards, into
    /// bytes no parser read as a name (opaque RDATA), and the second comes forward again.
    @Test("a two-pointer loop through opaque RDATA is refused")
    func twoPointerLoop() {
        // Record 1 at 12: root owner, type 99, RDATA at 23 = pointer to 25; record 2's owner at
        // 25 = pointer to 23.
        let bytes = W.header(flags: 0x8180, qd: 0, an: 2) + [0] + W.recordTail(type: 99, rdata: [0xC0, 25])
            + [0xC0, 23] + W.recordTail(type: 99, rdata: [])
        #expect(bytes[23] == 0xC0 && bytes[25] == 0xC0)
        #expect(W.parseResponse(bytes) == nil)
    }

    @Test("pointer chains are capped at 128 hops", arguments: [(127, true), (128, false), (2000, false)])
    func hopCap(pointers: Int, parses: Bool) {
        // Opaque RDATA at 23: a root byte, then pointers each to the one before.
        var rdata: [UInt8] = [0]
        for index in 0..<pointers { rdata += W.u16(0xC000 | UInt16(index == 0 ? 23 : 22 + 2 * index)) }
        let last = UInt16(22 + 2 * pointers)
        let bytes = W.header(flags: 0x8180, qd: 0, an: 2) + [0] + W.recordTail(type: 99, rdata: rdata)
            + W.u16(0xC000 | last) + W.recordTail(type: 99, rdata: [])
        #expect((W.parseResponse(bytes) != nil) == parses)
        #expect(W.parseResponse(bytes)?.answers.last?.name == (parses ? "" : nil))
    }

    @Test("label length bytes over 63 (or label types 01 and 10) are refused")
    func longLabel() {
        for byte: UInt8 in [64, 0x7F, 0x80, 0xBF] {
            #expect(W.reason(W.header(flags: 0x0100) + [byte] + Array(repeating: 0x61, count: Int(byte & 0x3F)) + [0] + Self.aIN)
                == "the question name has a label length byte \(byte): over 63 or an unsupported label type")
        }
    }

    @Test("names over 255 bytes are refused, 255 is accepted")
    func longName() throws {
        func labels(_ lengths: [Int]) -> [UInt8] {
            W.name(lengths.map { Array(repeating: 0x61, count: $0) })
        }
        let longest = try #require(W.query(W.header(flags: 0x0100) + labels([63, 63, 63, 61]) + Self.aIN))
        #expect(longest.question.wireLength == 255)
        #expect(W.reason(W.header(flags: 0x0100) + labels([63, 63, 63, 62]) + Self.aIN)
            == "the question name is longer than 255 bytes")
        // The same limit across compression: each owner adds a 63-byte label to the previous name.
        let label = [63] + Array(repeating: UInt8(0x62), count: 63)
        var bytes = W.header(flags: 0x8180, an: 3) + labels([63]) + Self.aIN
        var previous = 12
        for _ in 0..<3 {
            let start = bytes.count
            bytes += label + W.u16(0xC000 | UInt16(previous)) + W.recordTail(type: 99, rdata: [])
            previous = start
        }
        #expect(W.parseResponse(bytes) == nil)
        bytes = W.header(flags: 0x8180, an: 2) + Array(bytes[12...])
        let two = try #require(W.parseResponse(Array(bytes[0..<(bytes.count - 76)])))
        #expect(two.answers.map(\.name) == [
            String(repeating: "b", count: 63) + "." + String(repeating: "a", count: 63),
            String(repeating: "b", count: 63) + "." + String(repeating: "b", count: 63) + "."
                + String(repeating: "a", count: 63),
        ])
    }

    @Test("section counts a query must have")
    func counts() {
        let question = W.name("example.com") + Self.aIN
        #expect(W.reason(W.header(flags: 0x0100, qd: 2) + question + question) == "QDCOUNT is 2, want 1")
        #expect(W.reason(W.header(flags: 0x0100, qd: 0)) == "QDCOUNT is 0, want 1")
        #expect(W.reason(W.header(flags: 0x0100, an: 1) + question + [0xC0, 0x0C] + W.recordTail(type: 1, rdata: [1, 2, 3, 4]))
            == "ANCOUNT is 1, want 0")
        #expect(W.reason(W.header(flags: 0x0100, ns: 1) + question) == "NSCOUNT is 1, want 0")
        #expect(W.reason(W.header(flags: 0x0100, ar: 0xFFFF) + question) == "message ends inside an additional record name")
        #expect(W.reason(W.header(flags: 0x0100) + question + [0]) == "trailing bytes after the last record (1)")
        #expect(W.reason([0x12, 0x34, 0x01]) == "message is 3 bytes, shorter than the 12-byte header")
        #expect(W.parseResponse(W.header(flags: 0x8180, qd: 2) + question + question) == nil)
        #expect(W.parseResponse(W.header(flags: 0x8180, an: 0xFFFF) + question) == nil)
        #expect(W.parseResponse(W.header(flags: 0x8180, ns: 1) + question) == nil)
    }

    @Test("every truncation of a valid message is refused")
    func truncations() throws {
        let queries = [W.digQuery, DNSMessageBuilder.query(id: 1, name: "a\\255b.example", type: 16)]
        for message in queries {
            #expect(W.query(message) != nil)
            for length in 0..<message.count {
                #expect(W.query(Array(message[0..<length])) == nil, "\(length)")
            }
        }
        let query = try #require(W.query(queries[1]))
        let responses = [
            W.githubResponse,
            DNSMessageBuilder.response(to: query, answers: [
                DNSAnswer(name: "a\\255b.example", type: 5, ttl: 1, data: .cname("c.example")),
                DNSAnswer(name: "c.example", type: 16, ttl: 1, data: .txt(length: 40)),
            ]),
        ]
        for message in responses {
            #expect(W.parseResponse(message) != nil)
            for length in 0..<message.count {
                #expect(W.parseResponse(Array(message[0..<length])) == nil, "\(length)")
            }
        }
    }

    @Test("every byte value at every position of real messages: no crash, sane results")
    func singleByteMutations() {
        for message in [W.digQuery, W.githubResponse] {
            for position in message.indices {
                for value in UInt8.min...UInt8.max {
                    var mutated = message
                    mutated[position] = value
                    Self.checkInvariants(mutated)
                }
            }
        }
    }

    @Test("random mutations, truncations and splices: no crash, sane results")
    func randomMutations() {
        var random = SplitMix64(seed: 0x5EED_D15C)
        let seeds = [W.digQuery, W.githubResponse, DNSMessageBuilder.query(id: 1, name: "x.a\\046b.test", type: 1)]
        for round in 0..<20_000 {
            var message = seeds[round % seeds.count]
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                guard !message.isEmpty else { break }
                let position = Int.random(in: 0..<message.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: message[position] = UInt8.random(in: 0...255, using: &random)
                case 1: message[position] = 0xC0 | UInt8.random(in: 0...0x3F, using: &random)
                case 2: message.insert(UInt8.random(in: 0...0x40, using: &random), at: position)
                default: message.removeSubrange(position...)
                }
            }
            Self.checkInvariants(message)
        }
    }

    /// What any message that parses must satisfy: names within the limits, addresses of the
    /// right size, and a query's refusal that parses back with the same question.
    private static func checkInvariants(_ message: [UInt8]) {
        if let query = W.query(message) {
            #expect((1...255).contains(query.question.wireLength))
            let answer = DNSMessageBuilder.answer(to: query, rcode: DNSResponseCode.refused)
            #expect(W.parseResponse(answer)?.question == query.question, "\(message)")
        }
        if let response = W.parseResponse(message) {
            #expect(response.length == message.count)
            #expect(response.question.map { (1...255).contains($0.wireLength) } ?? true)
            for answer in response.answers {
                switch answer.data {
                case .a(let bytes): #expect(bytes.count == 4)
                case .aaaa(let bytes): #expect(bytes.count == 16)
                case .cname, .txt, .other: break
                }
            }
        }
    }
}

/// A seeded generator, so a failing mutation can be replayed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
