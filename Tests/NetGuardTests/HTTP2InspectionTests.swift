@testable import NetGuard
import Testing

/// HPACK and the reading of a program's HTTP/2 frames: RFC 7541's own examples, a dynamic table
/// carried from block to block, and the malformed inputs the guard must refuse.
struct HTTP2InspectionTests {
    func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    func text(_ fields: [HPACKDecoder.Field]) -> [String] {
        fields.map { String(decoding: $0.name, as: UTF8.self) + ": " + String(decoding: $0.value, as: UTF8.self) }
    }

    @Test func rfc7541RequestsWithHuffmanAndTheDynamicTable() throws {
        var decoder = HPACKDecoder(listLimit: 65_536)
        #expect(text(try decoder.decode(bytes("828684418cf1e3c2e5f23a6ba0ab90f4ff"))) == [":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com"])
        // The second block names :authority by the dynamic table entry the first one added.
        #expect(text(try decoder.decode(bytes("828684be5886a8eb10649cbf"))) == [":method: GET", ":scheme: http", ":path: /", ":authority: www.example.com", "cache-control: no-cache"])
        #expect(text(try decoder.decode(bytes("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")))
                == [":method: GET", ":scheme: https", ":path: /index.html", ":authority: www.example.com", "custom-key: custom-value"])
    }

    @Test func huffmanRoundTripsEveryByteAndRefusesBadPadding() throws {
        let all = (0...255).map(UInt8.init)
        #expect(HPACKHuffman.decode(HPACKHuffman.encode(all)[...]) == all)
        #expect(HPACKHuffman.decode(HPACKHuffman.encode(Array("allowed.test".utf8))[...]) == Array("allowed.test".utf8))
        // "a" is 00011 (5 bits); padding must be ones: 00011 000 is not.
        #expect(HPACKHuffman.decode([0x18][...]) == nil)
        #expect(HPACKHuffman.decode([0x1F][...]) == Array("a".utf8))
        #expect(HPACKHuffman.decode([0x1F, 0xFF][...]) == nil, "padding longer than 7 bits")
    }

    @Test func hostileBlocksAreRefused() {
        var decoder = HPACKDecoder(listLimit: 1_000)
        #expect(throws: HPACKDecoder.Failure.self) { try decoder.decode([0x80]) }  // index 0
        #expect(throws: HPACKDecoder.Failure.self) { try decoder.decode([0xFF, 0x80]) }  // integer cut short
        #expect(throws: HPACKDecoder.Failure.self) { try decoder.decode([0xBE]) }  // dynamic entry that does not exist
        #expect(throws: HPACKDecoder.Failure.self) { try decoder.decode([0x00, 0x05, 0x61]) }  // string past the end
        #expect(throws: HPACKDecoder.Failure.self) { try decoder.decode([0x3F, 0xE1, 0xFF, 0x07]) }  // table size over the limit
        #expect(throws: HPACKDecoder.Failure.self) { try decoder.decode([0x82, 0x20]) }  // size update after a field
        let big = [UInt8](repeating: 0x61, count: 600)
        #expect(throws: HPACKDecoder.Failure.self) {
            try decoder.decode([0x00, 0x01, 0x61] + HTTP2Frames.integer(600, prefix: 7, flags: 0) + big + [0x00, 0x01, 0x62] + HTTP2Frames.integer(600, prefix: 7, flags: 0) + big)
        }
    }

    func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        [UInt8(payload.count >> 16), UInt8(payload.count >> 8 & 0xFF), UInt8(payload.count & 0xFF), type, flags,
         UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// Feeds `input` through the reader until it needs more: the steps taken.
    func run(_ reader: inout HTTP2ClientStream, _ input: [UInt8]) -> [HTTP2ClientStream.Step] {
        var steps: [HTTP2ClientStream.Step] = []
        var rest = input[...]
        for _ in 0..<100 {
            let step = reader.next(rest)
            steps.append(step)
            switch step {
            case .forward(let n), .drop(let n): rest = rest.dropFirst(n)
            case .request(_, _, let n), .trailers(_, _, let n): rest = rest.dropFirst(n)
            case .credit: continue
            case .needMore, .malformed: return steps
            }
        }
        return steps
    }

    @Test func requestsAreJudgedWholeAndBodiesStream() throws {
        var reader = HTTP2ClientStream(maxBlockBytes: 32_768)
        let settings = frame(4, 0, 0, [0, 3, 0, 0, 0, 100])
        let block = bytes("8387448962dae838e4ff3cc01f41891d141fc1645d25427f5f87497ca58ae819aa")
        // The block split over HEADERS and CONTINUATION; then a DATA frame in two parts.
        let headers = frame(1, 0, 1, Array(block[0..<10])) + frame(9, 0x4, 1, Array(block[10...]))
        let data = frame(0, 0x1, 1, Array("hello".utf8))
        let steps = run(&reader, HTTP2ClientStream.preface + settings + headers + data)
        #expect(steps.first == .forward(24))
        #expect(steps.contains(.request(stream: 1, head: HTTP2RequestHead(method: "POST", path: "/upload?x=1", host: "allowed.test", port: nil, headers: [HTTPHeader(name: "content-type", value: "text/plain")]), bytes: headers.count)))
        #expect(steps.contains(.forward(5)), "the DATA payload passes as it comes")
        // The next block uses the dynamic table the first one filled.
        let second = run(&reader, frame(1, 0x5, 3, bytes("8287448560730cd57fc0")))
        #expect(second.first == .request(stream: 3, head: HTTP2RequestHead(method: "GET", path: "/again", host: "allowed.test", port: nil), bytes: 9 + 10))
    }

    @Test func aRefusedStreamsLaterFramesAreDropped() {
        var reader = HTTP2ClientStream(maxBlockBytes: 32_768)
        _ = run(&reader, HTTP2ClientStream.preface)
        _ = run(&reader, frame(1, 0x4, 1, bytes("8387448962dae838e4ff3cc01f41891d141fc1645d25427f5f87497ca58ae819aa")))
        reader.refuse(1)
        #expect(run(&reader, frame(0, 0x1, 1, Array("secret".utf8))).prefix(3) == [.drop(9), .drop(6), .credit(6)],
                "dropped, and the program's flow-control credit given back")
        #expect(run(&reader, frame(8, 0, 0, [0, 0, 1, 0])).first == .forward(13), "connection-level frames still pass")
        // Any later header block is refused: the server's HPACK table no longer matches (a
        // block the guard reads as trailers could be a request to the server).
        let later = run(&reader, frame(1, 0x5, 3, bytes("8287448560730cd57fc0")))
        #expect(later.contains { if case .malformed = $0 { return true } else { return false } }, "\(later)")
    }

    /// Trailers come out decoded, so detection reads them as it reads a head (#7); the DATA
    /// before them is marked as that stream's.
    @Test func trailersAreHandedOverWithTheirFields() {
        var reader = HTTP2ClientStream(maxBlockBytes: 32_768)
        _ = run(&reader, HTTP2ClientStream.preface)
        let head: [UInt8] = [0x83, 0x87, 0x84, 0x41, 0x06] + Array("a.test".utf8)
        _ = run(&reader, frame(1, 0x4, 1, head))
        #expect(reader.next(frame(0, 0, 1, Array("body".utf8))[...]) == .forward(9) && reader.lastDataStream == nil, "a frame header is not data")
        #expect(reader.next(Array("body".utf8)[...]) == .forward(4) && reader.lastDataStream == 1)
        let trailer: [UInt8] = [0x00, 0x03] + Array("x-a".utf8) + [0x05] + Array("leaks".utf8)
        let steps = run(&reader, frame(1, 0x5, 1, trailer))
        #expect(steps.first == .trailers(stream: 1, fields: [HTTPHeader(name: "x-a", value: "leaks")], bytes: 9 + trailer.count), "\(steps)")
    }

    @Test func bodiesKeepToOpenStreamsAndTheirContentLength() {
        func opened(_ contentLength: String?) -> HTTP2ClientStream {
            var reader = HTTP2ClientStream(maxBlockBytes: 32_768)
            _ = run(&reader, HTTP2ClientStream.preface)
            var block: [UInt8] = [0x83, 0x87, 0x84, 0x41, 0x06] + Array("a.test".utf8)
            if let contentLength { block += [0x0F, 0x0D, UInt8(contentLength.utf8.count)] + Array(contentLength.utf8) }
            _ = run(&reader, frame(1, 0x4, 1, block))
            return reader
        }
        func malformed(_ steps: [HTTP2ClientStream.Step]) -> Bool { steps.contains { if case .malformed = $0 { return true } else { return false } } }
        var fine = opened("5")
        #expect(!malformed(run(&fine, frame(0, 0x1, 1, Array("hello".utf8)))))
        var short = opened("5")
        #expect(malformed(run(&short, frame(0, 0x1, 1, Array("hi".utf8)))), "ends before its content-length")
        var long = opened("5")
        #expect(malformed(run(&long, frame(0, 0x0, 1, Array("hello, world".utf8)))), "more than its content-length")
        var idle = opened(nil)
        #expect(malformed(run(&idle, frame(0, 0x1, 9, Array("x".utf8)))), "DATA on a stream never opened")
        var ended = opened(nil)
        _ = run(&ended, frame(0, 0x1, 1, Array("x".utf8)))
        #expect(malformed(run(&ended, frame(0, 0x1, 1, Array("y".utf8)))), "DATA after the stream ended")
        var unknown = opened(nil)
        #expect(run(&unknown, frame(0xEE, 0, 0, Array("anything".utf8))).first == .drop(17), "an unknown frame type is dropped")
        var goaway = opened(nil)
        #expect(malformed(run(&goaway, frame(7, 0, 0, [0, 0, 0, 1, 0, 0, 0, 0] + Array("debug".utf8)))))
    }

    static let preface: [UInt8] = HTTP2ClientStream.preface
    static let malformed: [(String, [UInt8])] = [
        ("no preface", Array("GET / HTTP/1.1\r\n\r\n".utf8) + [UInt8](repeating: 0, count: 8)),
        ("CONTINUATION alone", preface + [0, 0, 1, 9, 4, 0, 0, 0, 1, 0x82]),
        ("PUSH_PROMISE from the client", preface + [0, 0, 4, 5, 4, 0, 0, 0, 1, 0, 0, 0, 2]),
        ("an even stream", preface + [0, 0, 3, 1, 5, 0, 0, 0, 2, 0x82, 0x87, 0x84]),
        ("an upper-case field name", preface + [0, 0, 16, 1, 5, 0, 0, 0, 1, 0x82, 0x87, 0x84, 0x41, 0x06] + Array("a.test".utf8) + [0x00, 0x01, 0x58, 0x01, 0x61]),
    ]

    @Test(arguments: malformed)
    func malformedStreamsAreRefused(_ name: String, _ input: [UInt8]) {
        var reader = HTTP2ClientStream(maxBlockBytes: 32_768)
        let steps = run(&reader, input)
        #expect(steps.contains { if case .malformed = $0 { return true } else { return false } }, "\(name): \(steps)")
    }

    @Test func requestHeadRules() throws {
        func head(_ fields: [(String, String)]) throws(HTTPFramingError) -> HTTP2RequestHead {
            try HTTP2RequestHead.parse(fields.map { (Array($0.0.utf8), Array($0.1.utf8)) })
        }
        let base = [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a.test:8443")]
        #expect(try head(base) == HTTP2RequestHead(method: "GET", path: "/", host: "a.test", port: 8443))
        #expect(throws: HTTPFramingError.self) { try head(base + [("host", "b.test")]) }
        #expect(throws: HTTPFramingError.self) { try head(base + [("connection", "close")]) }
        #expect(throws: HTTPFramingError.self) { try head(base + [("transfer-encoding", "chunked")]) }
        #expect(throws: HTTPFramingError.self) { try head([("x", "1")] + base) }
        #expect(throws: HTTPFramingError.self) { try head(base + [(":method", "POST")]) }
        #expect(throws: HTTPFramingError.self) { try head([(":method", "CONNECT"), (":authority", "a.test:443")]) }
        #expect(throws: HTTPFramingError.self) { try head(base + [("x-a", "b\r\nhost: evil")]) }
        #expect(throws: HTTPFramingError.self) { try head([(":method", "GET"), (":scheme", "https"), (":path", "/a b"), (":authority", "a.test")]) }
    }

    @Test func theServerStreamIsCutOnlyBetweenFramesOutsideHeaderBlocks() {
        var follower = HTTP2ServerStream()
        #expect(!follower.atSafePoint, "not before the server's first frame")
        let settings = frame(4, 0, 0, [])
        let headersOpen = frame(1, 0, 1, [0x88])
        let continuation = frame(9, 0x4, 1, [])
        let stream = settings + headersOpen + continuation
        let n = stream.withUnsafeBytes { follower.follow($0, stopAtSafePoint: true) }
        #expect(n == settings.count, "after SETTINGS")
        let rest = Array(stream[n...])
        _ = rest.withUnsafeBytes { follower.follow(UnsafeRawBufferPointer(rebasing: $0[0..<(headersOpen.count)]), stopAtSafePoint: false) }
        #expect(!follower.atSafePoint, "inside a header block")
        _ = rest.withUnsafeBytes { follower.follow(UnsafeRawBufferPointer(rebasing: $0[headersOpen.count...]), stopAtSafePoint: false) }
        #expect(follower.atSafePoint)
    }

    @Test func theRefusalIsAResponseTheProgramDecodes() throws {
        let frames = HTTP2Frames.refusal(stream: 5, status: 403, block: "rule: reason")
        #expect(frames[3] == 1 && frames[4] == 0x5 && frames[8] == 5)
        var decoder = HPACKDecoder(listLimit: 65_536)
        #expect(text(try decoder.decode(Array(frames[9...]))) == [":status: 403", "content-type: text/plain; charset=utf-8", "x-warden-block: rule: reason"])
    }
}
