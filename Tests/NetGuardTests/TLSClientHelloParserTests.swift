import Testing

@testable import NetGuard

@Suite("TLS ClientHello parser")
struct TLSClientHelloParserTests {
    let real = TLSFixtures.pythonHelloWithSNI

    @Test func realHelloGivesLowercasedSNIAndALPN() {
        #expect(real.count == 517)
        let expected = TLSClientHello(serverName: "example.com", encryptedClientHello: false, alpn: ["h2", "http/1.1"])
        #expect(TLSClientHelloParser.parse(real) == .clientHello(expected, length: 517))
    }

    @Test func realHelloWithoutSNI() {
        #expect(TLSClientHelloParser.parse(TLSFixtures.pythonHelloWithoutSNI) == .clientHello(TLSClientHello(), length: 517))
    }

    @Test func bytesAfterTheHelloAreNotCounted() {
        let withData = real + [0x17, 0x03, 0x03, 0x00, 0x01, 0xaa]
        guard case .clientHello(_, let length) = TLSClientHelloParser.parse(withData) else {
            Issue.record("expected a ClientHello")
            return
        }
        #expect(length == 517)
    }

    @Test func everyPrefixOfTheRealHelloNeedsMore() {
        for end in 0..<real.count {
            #expect(TLSClientHelloParser.parse(Array(real[..<end])) == .needMore, "prefix of \(end) bytes")
        }
    }

    @Test func helloFragmentedOverRecordsIsReassembled() throws {
        let handshake = Array(real.dropFirst(5))
        for sizes in [[1], [3], [4], [100, 100], [1, 1, 1, 1, 1], [200, 300]] {
            let fragmented = HelloBuilder.records(handshake, sizes: sizes)
            let records = sizes.count + 1
            #expect(fragmented.count == handshake.count + 5 * records)
            let peek = TLSClientHelloParser.parse(fragmented)
            guard case .clientHello(let hello, let length) = peek else {
                Issue.record("sizes \(sizes): \(peek)")
                continue
            }
            #expect(hello.serverName == "example.com")
            #expect(length == fragmented.count)
            for end in 0..<fragmented.count {
                #expect(TLSClientHelloParser.parse(Array(fragmented[..<end])) == .needMore)
            }
        }
    }

    @Test func oneByteRecordsStillParse() {
        let handshake = Array(real.dropFirst(5))
        let fragmented = HelloBuilder.records(handshake, sizes: [Int](repeating: 1, count: handshake.count))
        #expect(fragmented.count == handshake.count * 6)
        let peek = TLSClientHelloParser.parse(fragmented, maxLength: fragmented.count)
        guard case .clientHello(let hello, length: fragmented.count) = peek else {
            Issue.record("\(peek)")
            return
        }
        #expect(hello.alpn == ["h2", "http/1.1"])
    }

    @Test func encryptedClientHelloIsReported() {
        let hello = HelloBuilder.hello([
            HelloBuilder.ext(0, HelloBuilder.serverName(["public.example"])),
            HelloBuilder.ext(0xfe0d, [0, 0, 1, 0, 1, 7]),
        ])
        let expected = TLSClientHello(serverName: "public.example", encryptedClientHello: true, alpn: [])
        #expect(TLSClientHelloParser.parse(hello) == .clientHello(expected, length: hello.count))
    }

    @Test func helloWithoutAnyExtensionsHasNoSNI() {
        let hello = HelloBuilder.hello(nil)
        #expect(TLSClientHelloParser.parse(hello) == .clientHello(TLSClientHello(), length: hello.count))
    }

    @Test func greaseALPNIsDropped() {
        let hello = HelloBuilder.hello([HelloBuilder.ext(16, HelloBuilder.alpn([[0x3a, 0x3a], Array("h2".utf8)]))])
        #expect(TLSClientHelloParser.parse(hello) == .clientHello(TLSClientHello(alpn: ["h2"]), length: hello.count))
    }

    @Test(arguments: [
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a.example"])), HelloBuilder.ext(0, HelloBuilder.serverName(["b.example"]))],
         "two server_name extensions"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a.example", "b.example"]))], "more than one server_name entry"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a.example"], type: 1))], "server_name entry of type 1, not host_name"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName([""]))], "host_name of 0 bytes (must be 1...253)"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName([String(repeating: "a", count: 254)]))], "host_name of 254 bytes (must be 1...253)"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a\u{0}b"]))], "host_name has a byte outside printable ASCII"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a b"]))], "host_name has a byte outside printable ASCII"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a\u{7f}"]))], "host_name has a byte outside printable ASCII"),
        ([HelloBuilder.ext(0, ProtocolBytes.u16(0))], "empty server_name_list"),
        ([HelloBuilder.ext(0, [])], "server_name_list length runs past its container"),
        ([HelloBuilder.ext(0, HelloBuilder.serverName(["a.example"]) + [0])], "bytes after server_name_list"),
        ([HelloBuilder.ext(16, ProtocolBytes.u16(0))], "empty ALPN protocol_name_list"),
        ([HelloBuilder.ext(16, HelloBuilder.alpn([[]]))], "empty ALPN protocol name"),
        ([HelloBuilder.ext(16, HelloBuilder.alpn([[0x68, 0x0a]]))], "ALPN protocol name has a byte outside printable ASCII"),
        ([HelloBuilder.ext(0xfe0d, [])], "empty encrypted_client_hello extension"),
        ([HelloBuilder.ext(23, []), HelloBuilder.ext(23, [])], "duplicate extension 0x0017"),
    ])
    func refusedExtensions(extensions: [[UInt8]], reason: String) {
        #expect(TLSClientHelloParser.parse(HelloBuilder.hello(extensions)) == .malformed(reason))
    }

    @Test func longestHostNameIsAccepted() {
        let name = String(repeating: "a", count: 253)
        let hello = HelloBuilder.hello([HelloBuilder.ext(0, HelloBuilder.serverName([name]))])
        #expect(TLSClientHelloParser.parse(hello) == .clientHello(TLSClientHello(serverName: name), length: hello.count))
    }

    @Test func refusedRecordLayer() {
        let handshake = Array(real.dropFirst(5))
        #expect(TLSClientHelloParser.parse([0x17, 3, 1, 0, 5]) == .malformed("record type 23 is not a TLS handshake record"))
        #expect(TLSClientHelloParser.parse([0x16, 2]) == .malformed("record version major 2 is not 3"))
        #expect(TLSClientHelloParser.parse([0x16, 3, 5]) == .malformed("record version minor 5 is above 4"))
        #expect(TLSClientHelloParser.parse([0x16, 3, 1, 0, 0]) == .malformed("empty handshake record"))
        #expect(TLSClientHelloParser.parse([0x16, 3, 1, 0x40, 1]) == .malformed("record payload of 16385 bytes exceeds 16384"))
        // A change_cipher_spec record in the middle of the fragmented hello.
        let first = HelloBuilder.records(Array(handshake[..<10]))
        let interleaved = first + [0x14, 3, 3, 0, 1, 1] + HelloBuilder.records(Array(handshake[10...]))
        #expect(TLSClientHelloParser.parse(interleaved) == .malformed("record type 20 arrived before the ClientHello was complete"))
        // The last record declares one byte more than the hello needs.
        var padded = real
        padded[4] += 1
        #expect(TLSClientHelloParser.parse(padded) == .malformed("a handshake record carries bytes after the ClientHello"))
    }

    @Test func refusedHandshakeMessages() {
        let body = HelloBuilder.body(extensions: [])
        #expect(TLSClientHelloParser.parse(HelloBuilder.records(HelloBuilder.handshake(body, type: 2)))
            == .malformed("handshake message type 2 is not ClientHello"))
        #expect(TLSClientHelloParser.parse(HelloBuilder.records(HelloBuilder.handshake(HelloBuilder.body(extensions: [], version: 0x0300))))
            == .malformed("unsupported legacy_version 0x0300"))
        let longSession = HelloBuilder.body(extensions: [], sessionID: [UInt8](repeating: 1, count: 33))
        #expect(TLSClientHelloParser.parse(HelloBuilder.records(HelloBuilder.handshake(longSession)))
            == .malformed("session_id longer than 32 bytes"))
        #expect(TLSClientHelloParser.parse(HelloBuilder.records(HelloBuilder.handshake(body + [0])))
            == .malformed("bytes after the extensions block"))
        #expect(TLSClientHelloParser.parse(HelloBuilder.records(HelloBuilder.handshake([])))
            == .malformed("legacy_version runs past its container"))
    }

    @Test func helloLongerThanMaxLengthIsRefused() {
        #expect(TLSClientHelloParser.parse(real, maxLength: 516) == .malformed("ClientHello longer than 516 bytes"))
        // Known from the headers alone, before the rest arrives.
        #expect(TLSClientHelloParser.parse(Array(real[..<9]), maxLength: 516) == .malformed("ClientHello longer than 516 bytes"))
        #expect(TLSClientHelloParser.parse(real, maxLength: 517) != .malformed("ClientHello longer than 517 bytes"))
        // A handshake length of 2^24-1 cannot fit the default limit.
        #expect(TLSClientHelloParser.parse([0x16, 3, 1, 0x40, 0, 1, 0xff, 0xff, 0xff])
            == .malformed("ClientHello longer than 16389 bytes"))
        // Spread over records, the total (headers included) is what counts.
        let fragmented = HelloBuilder.records(Array(real.dropFirst(5)), sizes: [256])
        #expect(TLSClientHelloParser.parse(fragmented, maxLength: 521) == .malformed("ClientHello longer than 521 bytes"))
        #expect(TLSClientHelloParser.parse(fragmented, maxLength: 522) != .malformed("ClientHello longer than 522 bytes"))
    }

    /// Offsets of the real hello's length fields: record, handshake, session_id, cipher_suites,
    /// compression, extensions, SNI extension, server_name_list, host_name.
    @Test(arguments: [4, 8, 43, 77, 114, 117, 121, 123, 126])
    func corruptedLengthFieldIsMalformed(offset: Int) {
        for delta in [1, 2, 0x10] as [UInt8] {
            var corrupted = real
            corrupted[offset] &+= delta
            let peek = TLSClientHelloParser.parse(corrupted)
            guard case .malformed = peek else {
                Issue.record("offset \(offset) +\(delta): \(peek)")
                continue
            }
        }
    }

    @Test func corruptingAnyByteNeverCrashesOrInventsAName() {
        for offset in real.indices {
            for value in [0x00, 0xff, real[offset] ^ 0x01, real[offset] &+ 1, real[offset] &- 1] as [UInt8] {
                var corrupted = real
                corrupted[offset] = value
                if case .clientHello(let hello, let length) = TLSClientHelloParser.parse(corrupted) {
                    #expect(length <= corrupted.count)
                    // Bytes outside the name may change; the name itself is then only ever lowercased.
                    if let name = hello.serverName { #expect(name.utf8.count == 11) }
                }
            }
        }
    }

    @Test func randomGarbageNeverCrashes() {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        for round in 0..<2_000 {
            var bytes = round % 2 == 0 ? real : [0x16, 0x03, 0x01]
            for _ in 0..<(round % 16 + 1) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let position = Int(state >> 33) % (bytes.count + 8)
                let value = UInt8(truncatingIfNeeded: state >> 17)
                if position < bytes.count { bytes[position] = value } else { bytes.append(value) }
            }
            _ = TLSClientHelloParser.parse(bytes)
        }
    }

    @Test func sniffsTLS() {
        #expect(TLSClientHelloParser.looksLikeTLS(real))
        #expect(TLSClientHelloParser.looksLikeTLS([0x16]))
        #expect(TLSClientHelloParser.looksLikeTLS([0x16, 0x03]))
        #expect(TLSClientHelloParser.looksLikeTLS([0x16, 0x03, 0x04]))
        #expect(!TLSClientHelloParser.looksLikeTLS([]))
        #expect(!TLSClientHelloParser.looksLikeTLS(Array("GET / HTTP/1.1".utf8)))
        #expect(!TLSClientHelloParser.looksLikeTLS([0x16, 0x02]))
        #expect(!TLSClientHelloParser.looksLikeTLS([0x16, 0x03, 0x05]))
    }
}

extension TLSClientHelloParser {
    static func looksLikeTLS(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { looksLikeTLS($0) }
    }
}
