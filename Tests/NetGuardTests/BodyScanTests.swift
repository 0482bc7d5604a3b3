import Testing
@testable import NetGuard
@testable import Policy

/// What the body scan reads: the data of a chunked body without its framing (a value sent in
/// tiny chunks is still one run), and a secret on its way to its own host never hides a
/// canary after it.
@Suite struct BodyScanTests {
    @Test func chunkedFramingIsRemovedWhateverTheChunkSizes() {
        let data = Array("AKIAIOSFODNN7EXAMPLE and more".utf8)
        var wire: [UInt8] = []
        for start in stride(from: 0, to: data.count, by: 3) {
            let piece = data[start..<min(data.count, start + 3)]
            wire += Array(String(piece.count, radix: 16).utf8) + Array(";x=1\r\n".utf8) + piece + [0x0D, 0x0A]
        }
        wire += Array("0\r\nx-trailer: t\r\n\r\n".utf8)
        // Fed in every split, the data comes out whole (trailers after it).
        for split in [1, 2, 5, 7, wire.count] {
            var payload = ChunkedPayload()
            var out: [UInt8] = []
            for start in stride(from: 0, to: wire.count, by: split) { out += payload.extract(wire[start..<min(wire.count, start + split)]) }
            #expect(out == data + Array("x-trailer: t\r\n\r\n".utf8), "split \(split)")
        }
    }

    @Test func aPermittedSecretDoesNotHideACanaryAfterIt() throws {
        let secret = PlantedValue(origin: .secret, label: "secret TOKEN", value: "tok_0123456789abcdefXYZ", fingerprint: "f",
                                  hosts: [try DomainPattern.parse("api.example.com", forAllow: false)])
        let canary = PlantedValue(origin: .canary, label: "canary", value: "AKIAQWERTYUIOPASDFGH", fingerprint: "c")
        let matcher = PlantedValueMatcher(values: [secret, canary])
        let body = Array("{\"t\": \"tok_0123456789abcdefXYZ\", \"c\": \"AKIAQWERTYUIOPASDFGH\"}".utf8)
        let counts = { (value: PlantedValue) in value.origin == .canary || !value.mayReach("api.example.com") }
        #expect(matcher.first(in: body, counts: counts)?.value == 1, "the canary after the permitted secret")
        #expect(matcher.first(in: Array("{\"t\": \"tok_0123456789abcdefXYZ\"}".utf8), counts: counts) == nil)
        #expect(matcher.first(in: body)?.value == 0, "without the exemption the secret comes first")
        let found = body.withUnsafeBytes { matcher.matches(in: $0) }
        #expect(found.map(\.value) == [0, 1] && found.first?.length == 23, "\(found)")
    }

    @Test func hexInsideALongerRunIsDecodedAtEitherParity() {
        let token = "ghp_" + String(repeating: "Zq3x", count: 9)
        let hex = token.utf8.map { String($0, radix: 16) }.joined()
        for text in ["/u/" + hex, "0x" + hex, "/ab" + hex + "z"] {
            let found = ContentDecoder.layers(Array(text.utf8)).contains { SecretPatterns.first(in: $0)?.kind == "github-token" }
            #expect(found, "\(text.prefix(12))")
        }
    }
}
