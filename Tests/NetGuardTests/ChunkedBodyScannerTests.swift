import Testing

@testable import NetGuard

@Suite("Chunked body scanner")
struct ChunkedBodyScannerTests {
    static let body = "4\r\nWiki\r\n5;name=\"v\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Checksum: abc\r\nX-Other:\tv\r\n\r\n"
    static let next = "GET /next HTTP/1.1\r\n"

    /// Feeds one byte at a time; returns the offset where the body ended, or the first non-consumed step.
    private func feedByteByByte(_ text: String, scanner: inout ChunkedBodyScanner) -> (Int?, ChunkedBodyScanner.Step?) {
        for (offset, byte) in text.utf8.enumerated() {
            switch scanner.scan([byte]) {
            case .consumed(1): continue
            case .finished(1): return (offset + 1, nil)
            case let other: return (nil, other)
            }
        }
        return (nil, nil)
    }

    @Test func wholeBodyAtOnceStopsBeforeTheNextRequest() {
        var scanner = ChunkedBodyScanner()
        let bytes = Array((Self.body + Self.next).utf8)
        #expect(scanner.scan(bytes) == .finished(Self.body.utf8.count))
        // The body is over: nothing more belongs to it.
        #expect(scanner.scan(Array(Self.next.utf8)) == .finished(0))
    }

    @Test func byteByByte() {
        var scanner = ChunkedBodyScanner()
        let (end, other) = feedByteByByte(Self.body + Self.next, scanner: &scanner)
        #expect(other == nil)
        #expect(end == Self.body.utf8.count)
    }

    @Test func everySplitPointGivesTheSameEnd() {
        let bytes = Array((Self.body + Self.next).utf8)
        for split in 0...Self.body.utf8.count {
            var scanner = ChunkedBodyScanner()
            let first = scanner.scan(Array(bytes[..<split]))
            if split == Self.body.utf8.count {
                #expect(first == .finished(split))
                continue
            }
            #expect(first == .consumed(split))
            #expect(scanner.scan(Array(bytes[split...])) == .finished(Self.body.utf8.count - split))
        }
    }

    @Test func emptyBodyAndEmptyInput() {
        var scanner = ChunkedBodyScanner()
        #expect(scanner.scan([]) == .consumed(0))
        #expect(scanner.scan(Array("0\r\n\r\n".utf8)) == .finished(5))
    }

    @Test func largestSizeIsAccepted() {
        var scanner = ChunkedBodyScanner()
        #expect(scanner.scan(Array("FFFFFFFFFFFFFFFF\r\nabc".utf8)) == .consumed(21))
        #expect(scanner.state == .data(remaining: UInt64.max - 3))
    }

    @Test(arguments: [
        ("4\nWiki\r\n0\r\n\r\n", "bare LF in chunked body"),
        ("4\r\nWiki\n0\r\n\r\n", "bare LF in chunked body"),
        ("4\r\nWikiX\r\n0\r\n\r\n", "chunk data not followed by CRLF"),
        ("4\rX", "bare CR after chunk size"),
        ("0\r\n\n", "bare LF in chunked body"),
        ("0\r\nX: 1\n\r\n", "bare LF in chunked body"),
        ("0\r\nX: 1\rY", "bare CR in trailer section"),
        ("10000000000000000\r\n", "chunk size longer than 16 hex digits"),
        ("00000000000000001\r\n", "chunk size longer than 16 hex digits"),
        ("-1\r\n", "chunk size missing or not hex"),
        ("+1\r\n", "chunk size missing or not hex"),
        ("\r\n", "chunk size missing or not hex"),
        (";ext\r\n", "chunk size missing or not hex"),
        ("0x10\r\n", "invalid byte 0x78 after chunk size"),
        ("4 \r\n", "invalid byte 0x20 after chunk size"),
        ("4;a\u{0}\r\n", "invalid byte 0x00 in chunk extension"),
        ("0\r\n X: 1\r\n\r\n", "trailer line starts with whitespace (obs-fold)"),
        ("0\r\nX : 1\r\n\r\n", "whitespace before colon in trailer"),
        ("0\r\nX\r\n\r\n", "trailer line has no colon"),
        ("0\r\n(X): 1\r\n\r\n", "trailer field name is not a token"),
        ("0\r\nX: a\u{1}b\r\n\r\n", "control byte 0x01 in trailer value"),
    ])
    func malformed(text: String, reason: String) {
        var whole = ChunkedBodyScanner()
        #expect(whole.scan(Array(text.utf8)) == .malformed(reason))
        // The answer stays malformed.
        #expect(whole.scan(Array("0\r\n\r\n".utf8)) == .malformed(reason))
        var single = ChunkedBodyScanner()
        let (end, other) = feedByteByByte(text, scanner: &single)
        #expect(end == nil)
        #expect(other == .malformed(reason))
    }

    @Test func overlongLinesAreMalformed() {
        var scanner = ChunkedBodyScanner(maxLineLength: 8)
        // Exactly the limit is fine; one byte more is not.
        #expect(scanner.scan(Array("4;abcdef\r\nWiki\r\n".utf8)) == .consumed(16))
        #expect(scanner.scan(Array("4;abcdefg\r\n".utf8)) == .malformed("chunked body line longer than 8 bytes"))
        var trailer = ChunkedBodyScanner(maxLineLength: 8)
        #expect(trailer.scan(Array("0\r\nX: 123456\r\n".utf8)) == .malformed("chunked body line longer than 8 bytes"))
    }
}
