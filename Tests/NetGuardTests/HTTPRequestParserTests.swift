import Testing

@testable import NetGuard

@Suite("HTTP/1.x request head parser")
struct HTTPRequestParserTests {
    static let keepAliveGetText = "GET /index.html?q=1 HTTP/1.1\r\nHost: Example.COM\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"

    private func refusal(_ text: String, maxHeaderBytes: Int = 32_768, maxHeaders: Int = 128) -> HTTPFramingError.Code? {
        guard case .refused(let error) = HTTPRequestParser.parse(text, maxHeaderBytes: maxHeaderBytes, maxHeaders: maxHeaders)
        else { return nil }
        #expect(!error.message.isEmpty && !error.message.contains("\n"))
        return error.code
    }

    private func parsed(_ text: String) -> HTTPRequestHead? {
        guard case .request(let head) = HTTPRequestParser.parse(text) else { return nil }
        return head
    }

    @Test func keepAliveGet() throws {
        let request = Self.keepAliveGetText + "GET /next HTTP/1.1\r\n"
        let expected = HTTPRequestHead(
            method: "GET", target: "/index.html?q=1", path: "/index.html?q=1", minorVersion: 1,
            host: "example.com", port: nil, contentLength: nil, chunked: false, upgrade: nil, connectionClose: false,
            headers: [
                HTTPHeader(name: "Host", value: "Example.COM"), HTTPHeader(name: "User-Agent", value: "curl/8.5.0"),
                HTTPHeader(name: "Accept", value: "*/*"),
            ],
            headerLength: Self.keepAliveGetText.utf8.count)
        #expect(HTTPRequestParser.parse(request) == .request(expected))
    }

    @Test func postWithContentLength() throws {
        let text = "POST /upload HTTP/1.1\r\nHost: api.example:8080\r\nContent-Length:  42 \r\nConnection: keep-alive, Close\r\n\r\n"
        let head = try #require(parsed(text))
        #expect(head.method == "POST")
        #expect(head.host == "api.example")
        #expect(head.port == 8080)
        #expect(head.contentLength == 42)
        #expect(!head.chunked)
        #expect(head.connectionClose)
        #expect(head.headers[1] == HTTPHeader(name: "Content-Length", value: "42"))
        #expect(head.headerLength == text.utf8.count)
    }

    @Test func chunkedPost() throws {
        let head = try #require(parsed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"))
        #expect(head.chunked)
        #expect(head.contentLength == nil)
    }

    @Test func http10ClosesUnlessKeepAlive() throws {
        let closing = try #require(parsed("GET / HTTP/1.0\r\n\r\n"))
        #expect(closing.minorVersion == 0)
        #expect(closing.connectionClose)
        #expect(closing.host == nil)
        let keepAlive = try #require(parsed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))
        #expect(!keepAlive.connectionClose)
    }

    @Test func absoluteFormTakesItsPathAndMatchesHost() throws {
        let head = try #require(parsed("GET http://Example.com:80?x=1 HTTP/1.1\r\nHost: example.COM\r\n\r\n"))
        #expect(head.path == "/?x=1")
        #expect(head.target == "http://Example.com:80?x=1")
        #expect(head.host == "example.com")
        #expect(head.port == nil)
        let bare = try #require(parsed("GET HTTP://example.com HTTP/1.0\r\n\r\n"))
        #expect(bare.path == "/")
        #expect(bare.host == "example.com")
        let withPath = try #require(parsed("GET http://[::1]:8080/a/b HTTP/1.0\r\n\r\n"))
        #expect(withPath.path == "/a/b")
        #expect(withPath.host == "::1")
        #expect(withPath.port == 8080)
    }

    @Test func connectUsesItsAuthority() throws {
        let head = try #require(parsed("CONNECT Example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"))
        #expect(head.path == "Example.org:443")
        #expect(head.host == "example.org")
        #expect(head.port == 443)
        #expect(refusal("CONNECT example.org:443 HTTP/1.1\r\nHost: other.org:443\r\n\r\n") == .hostMismatch)
        #expect(refusal("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:8443\r\n\r\n") == .hostMismatch)
        #expect(refusal("CONNECT example.org HTTP/1.1\r\nHost: example.org\r\n\r\n") == .invalidHost)
        #expect(refusal("CONNECT /x HTTP/1.1\r\nHost: example.org\r\n\r\n") == .invalidHost)
    }

    @Test func asteriskFormOnlyForOptions() throws {
        let head = try #require(parsed("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(head.path == "*")
        #expect(refusal("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == .malformedRequestLine)
    }

    @Test func ipv6Host() throws {
        let head = try #require(parsed("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\n\r\n"))
        #expect(head.host == "2001:db8::1")
        #expect(head.port == 8443)
        #expect(parsed("GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n")?.host == "::ffff:192.0.2.1")
        let ipv4 = try #require(parsed("GET / HTTP/1.1\r\nHost: 192.0.2.7:8080\r\n\r\n"))
        #expect(ipv4.host == "192.0.2.7")
        #expect(ipv4.port == 8080)
        #expect(parsed("GET / HTTP/1.1\r\nHost: _srv.Build-01.example\r\n\r\n")?.host == "_srv.build-01.example")
        #expect(parsed("GET / HTTP/1.1\r\nHost: 0\r\n\r\n") == nil)
    }

    @Test func webSocketUpgradeIsAllowed() throws {
        let head = try #require(parsed("GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade:  WebSocket \r\nConnection: Upgrade\r\n\r\n"))
        #expect(head.upgrade == "websocket")
    }

    @Test(arguments: [
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPFramingError.Code.contentLengthWithTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", .contentLengthWithTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", .multipleContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", .multipleContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", .invalidContentLength),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", .duplicateHost),
        ("GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n", .duplicateHost),
        ("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", .missingHost),
        ("GET / HTTP/1.1\r\nHost:\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: example.com:0\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: example.com:65536\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: example.com:08\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: example.com:http\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: example.com.\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: 127.1\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: 0x7f.0.0.1\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: 127.000.0.1\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n", .invalidHost),
        ("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n", .invalidHost),
        ("GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", .invalidHost),
        ("GET http://evil.example/ HTTP/1.1\r\nHost: good.example\r\n\r\n", .hostMismatch),
        ("GET http://good.example:8080/ HTTP/1.1\r\nHost: good.example\r\n\r\n", .hostMismatch),
        ("GET http://good.example/ HTTP/1.0\r\nHost: good.example:81\r\n\r\n", .hostMismatch),
        ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n", .h2cUpgrade),
        ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket, H2C\r\n\r\n", .h2cUpgrade),
        ("GET / HTTP/1.1\r\nHost: h\r\nHTTP2-Settings: AAMAAABk\r\n\r\n", .h2cUpgrade),
        ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: TLS/1.2\r\n\r\n", .unsupportedUpgrade),
        ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n\r\n", .unsupportedUpgrade),
        ("GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n", .unsupportedUpgrade),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .http2Preface),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .unsupportedVersion),
        ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", .unsupportedVersion),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n", .invalidCharacter),
        ("get / HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET //evil.example/ HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET /#frag HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET https://h/ HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET /caf\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n", .malformedRequestLine),
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", .bareLineFeed),
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", .bareLineFeed),
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", .bareLineFeed),
        ("GET / HTTP/1.1\rHost: h\r\n\r\n", .bareLineFeed),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n continued\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\n Host: h\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .whitespaceBeforeColon),
        ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", .whitespaceBeforeColon),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{0}b\r\n\r\n", .invalidCharacter),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{7f}b\r\n\r\n", .invalidCharacter),
        ("GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", .invalidCharacter),
        ("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", .invalidCharacter),
        ("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", .invalidCharacter),
    ])
    func refused(text: String, code: HTTPFramingError.Code) {
        #expect(refusal(text) == code)
    }

    @Test func smugglingMessageIsReadable() {
        let peek = HTTPRequestParser.parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(peek == .refused(HTTPFramingError(
            .contentLengthWithTransferEncoding, "both Content-Length and Transfer-Encoding (request smuggling)")))
    }

    @Test func valuesKeepHTABAndValidUTF8ButNotBrokenUTF8() throws {
        let head = try #require(parsed("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\r\nX-B: caf\u{e9}\r\n\r\n"))
        #expect(head.headers[1].value == "a\tb")
        #expect(head.headers[2].value == "caf\u{e9}")
        let broken = Array("GET / HTTP/1.1\r\nHost: h\r\nX-A: ".utf8) + [0xc3, 0x28] + Array("\r\n\r\n".utf8)
        #expect(HTTPRequestParser.parse(broken) == .refused(HTTPFramingError(.invalidCharacter, "field value is not valid UTF-8")))
    }

    @Test func earlyRefusalBeforeTheHeadIsComplete() {
        #expect(refusal("GET / HTTP/1.1\r\nHost: h\r\nX: \u{0}") == .invalidCharacter)
        #expect(refusal("GET / HTTP/1.1\n") == .bareLineFeed)
        #expect(refusal("PRI * HTTP/2.0\r\n") == .http2Preface)
        #expect(refusal("GET / HTTP/1.1\r\nHost : h\r\n") == .whitespaceBeforeColon)
    }

    @Test func headerTooLarge() {
        let big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "a", count: 200)
        #expect(refusal(big, maxHeaderBytes: 128) == .headerTooLarge)
        #expect(HTTPRequestParser.parse(String(big.prefix(100)), maxHeaderBytes: 128) == .needMore)
        // Exactly at the limit is accepted; one byte more is not.
        let exact = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(parsed(exact) != nil)
        #expect(HTTPRequestParser.parse(exact, maxHeaderBytes: exact.utf8.count) != .needMore)
        #expect(refusal(exact, maxHeaderBytes: exact.utf8.count) == nil)
        #expect(refusal(exact, maxHeaderBytes: exact.utf8.count - 1) == .headerTooLarge)
        #expect(refusal(exact + "GET", maxHeaderBytes: exact.utf8.count - 1) == .headerTooLarge)
    }

    @Test func tooManyHeaders() {
        let fields = (0..<5).map { "X-\($0): v\r\n" }.joined()
        #expect(refusal("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n", maxHeaders: 6) == nil)
        #expect(refusal("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "X-5: v\r\n", maxHeaders: 6) == .tooManyHeaders)
    }

    @Test func notHTTPIsAnsweredEarly() {
        #expect(HTTPRequestParser.parse([0x16, 0x03, 0x01]) == .notHTTP)
        #expect(HTTPRequestParser.parse("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n") == .notHTTP)
        #expect(HTTPRequestParser.parse("SSH-2.0-Go\r\n") == .notHTTP)
        #expect(HTTPRequestParser.parse(" GET / HTTP/1.1\r\n") == .notHTTP)
        #expect(HTTPRequestParser.parse("\r\nGET / HTTP/1.1\r\n") == .notHTTP)
        #expect(HTTPRequestParser.parse(String(repeating: "A", count: 21)) == .notHTTP)
        #expect(HTTPRequestParser.parse(String(repeating: "A", count: 20)) == .needMore)
        #expect(HTTPRequestParser.parse(String(repeating: "A", count: 20) + " ") == .needMore)
        #expect(HTTPRequestParser.parse("") == .needMore)
        #expect(HTTPRequestParser.parse("GE") == .needMore)
    }

    @Test(arguments: [
        keepAliveGetText,
        "POST /upload HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 42\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    ])
    func everyPrefixNeedsMore(text: String) throws {
        let bytes = Array(text.utf8)
        for end in 0..<bytes.count {
            #expect(HTTPRequestParser.parse(Array(bytes[..<end])) == .needMore, "prefix of \(end) bytes")
        }
        let head = try #require(parsed(text))
        #expect(head.headerLength == bytes.count)
    }

    @Test func garbageNeverCrashes() {
        let seed = Array(Self.keepAliveGetText.utf8)
        var state: UInt64 = 0x2545_f491_4f6c_dd1d
        for round in 0..<3_000 {
            var bytes = seed
            for _ in 0..<(round % 8 + 1) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let position = Int(state >> 33) % bytes.count
                bytes[position] = UInt8(truncatingIfNeeded: state >> 13)
            }
            if case .request(let head) = HTTPRequestParser.parse(bytes) {
                #expect(head.headerLength <= bytes.count)
            }
        }
    }
}
