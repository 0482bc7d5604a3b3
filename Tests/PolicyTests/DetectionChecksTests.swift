import Foundation
@testable import Policy
import Testing

/// RFC 4648 encoders written here, not borrowed from the code under test, so that a wrong
/// alphabet or alignment in the product cannot agree with itself.
private enum Encode {
    static let base64Digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    static let base32Digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    /// Big-endian digits of `bits` bits each; the last partial digit is zero-filled.
    static func digits(_ bytes: [UInt8], bits: Int, _ alphabet: [Character]) -> String {
        var out = "", accumulator = 0, held = 0
        for byte in bytes {
            (accumulator, held) = (accumulator << 8 | Int(byte), held + 8)
            while held >= bits {
                held -= bits
                out.append(alphabet[(accumulator >> held) & (1 << bits - 1)])
            }
            accumulator &= 1 << held - 1
        }
        if held > 0 { out.append(alphabet[(accumulator << (bits - held)) & (1 << bits - 1)]) }
        return out
    }
    static func base64(_ bytes: [UInt8]) -> String {
        let text = digits(bytes, bits: 6, base64Digits)
        return text + String(repeating: "=", count: (4 - text.count % 4) % 4)
    }
    static func base64url(_ bytes: [UInt8]) -> String { String(digits(bytes, bits: 6, base64Digits).map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }) }
    static func base32(_ bytes: [UInt8]) -> String { digits(bytes, bits: 5, base32Digits) }
    static func hex(_ bytes: [UInt8], upper: Bool = false) -> String { bytes.map { String(format: upper ? "%02X" : "%02x", $0) }.joined() }
    static func percent(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%%%02X", $0) }.joined() }
}

/// Credential-shaped strings built from repeats, so no real-looking secret is in the source.
private enum Token {
    static let github = "ghp_" + String(repeating: "a1B2", count: 9)
    static let aws = "AKIA" + String(repeating: "Z7", count: 8)
    /// One of each kind rule 9 knows, with the kind it must be reported as.
    static let kinds: [(String, String)] = [
        (Token.aws, "aws-access-key-id"),
        ("ASIA" + String(repeating: "Q4", count: 8), "aws-access-key-id"),
        (Token.github, "github-token"),
        ("gho_" + String(repeating: "Zz09", count: 9), "github-token"),
        ("github_pat_" + String(repeating: "Ab3", count: 7) + "9_" + String(repeating: "c4D", count: 19) + "xy", "github-fine-grained-token"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private-key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private-key"),
        ("sk-ant-api03-" + String(repeating: "Ab3_d-", count: 15), "anthropic-api-key"),
        ("sk-proj-" + String(repeating: "Zq9-T_", count: 10), "openai-api-key"),
        ("npm_" + String(repeating: "n7Pq", count: 9), "npm-token"),
        ("pypi-AgEIcHlwaS5vcmc" + String(repeating: "Ab1-_9", count: 10), "pypi-token"),
        ("xoxb-1234567890-0987654321-" + String(repeating: "sLk9", count: 6), "slack-token"),
    ]
}

/// Debian's Public Suffix List, as production loads it (nil when the package is missing).
private let debianSuffixes: PublicSuffixList? = (try? String(contentsOfFile: PublicSuffixList.debianPath, encoding: .utf8)).map(PublicSuffixList.init(text:))

private func checks(_ policy: DetectionPolicy = DetectionPolicy()) throws -> DetectionChecks {
    let suffixes = try #require(debianSuffixes, "\(PublicSuffixList.debianPath) (Debian publicsuffix) is needed")
    return DetectionChecks(policy: policy, suffixes: suffixes)
}

/// The stateless detection code of the Policy module, in three groups (filter on
/// DetectionChecksTests to run them all).
@Suite("Detection checks")
enum DetectionChecksTests {}

extension DetectionChecksTests {
    /// Rule 9's shapes, rule 10's entropy and the decoding they both see through.
    @Suite("Detection: credential shapes, entropy, decoding")
    struct SecretShapes {
        @Test("one realistic token of each kind is found, with its kind, offset and length", arguments: Token.kinds)
        func finds(_ token: String, _ kind: String) throws {
            // Framed as a header would carry it: the offset proves the match starts at the token.
            let found = try #require(SecretPatterns.first(in: Array("Authorization: Bearer \(token)\r\n".utf8)))
            #expect(found == SecretPatterns.Finding(kind: kind, offset: 22, length: token.utf8.count))
        }

        @Test("near misses and ordinary text are not credentials", arguments: [
            "ghp_" + String(String(repeating: "a1B2", count: 9).dropLast()),            // one character short
            Token.github + "x",                                                  // one too many: not the shape
            "AKIA" + String(repeating: "Z7", count: 7) + "Z",                    // 15 after AKIA
            "XAKIA" + String(repeating: "Z7", count: 8),                         // AKIA inside a longer word
            "We use the sk-learn toolkit and ask npm_ maintainers; xoxo, the team.",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "id=123e4567-e89b-12d3-a456-426614174000",
            "-----BEGIN PUBLIC KEY-----",
        ])
        func ignores(_ text: String) {
            #expect(SecretPatterns.first(in: Array(text.utf8)) == nil)
        }

        /// The first credential any decoded layer holds.
        private func decodedKind(_ text: String, depth: Int = 2) -> String? {
            ContentDecoder.layers(Array(text.utf8), depth: depth).lazy.compactMap { SecretPatterns.first(in: $0)?.kind }.first
        }

        @Test("each encoding is undone: percent, base64, base64url, hex")
        func decodesOneLayer() throws {
            // These three bytes encode as "++++" (or "----"), so the two base64 alphabets differ.
            let data = [0xFB, 0xEF, 0xBE] + Array(Token.github.utf8)
            let standard = Encode.base64(data), urlSafe = Encode.base64url(data)
            try #require(standard.hasPrefix("++++") && urlSafe.hasPrefix("----"))
            for text in ["q=" + Encode.percent(Array(Token.github.utf8)), "/upload?d=\(standard)&x=1", "d=\(urlSafe)",
                         "{\"blob\":\"\(Encode.hex(Array(Token.aws.utf8)))\"}", Encode.hex(Array(Token.aws.utf8), upper: true)] {
                #expect(SecretPatterns.first(in: Array(text.utf8)) == nil, "\(text) is already plain")
                #expect(decodedKind(text) != nil, "\(text)")
            }
        }

        @Test("depth 2 sees base64 of hex and percent of base64; depth 1 does not")
        func decodesTwoLayers() {
            let token = Array(Token.github.utf8)
            for text in [Encode.base64(Array(Encode.hex(token).utf8)), Encode.percent(Array(Encode.base64(token).utf8))] {
                #expect(decodedKind(text, depth: 1) == nil, "\(text)")
                #expect(decodedKind(text, depth: 2) == "github-token", "\(text)")
            }
        }

        @Test("base64 in a URL path segment is decoded (rule 9: secret pattern in URL)")
        func decodesBase64InPath() throws {
            // `/` is a base64 character, so the path before the data joins the run and shifts its
            // alignment (1 or 9 characters here): every decoded byte is garbage. GET /<base64> is
            // the plainest leak there is.
            let detection = try checks()
            for prefix in ["/", "/c/", "/cc/", "/ccc/", "/collect/", "/upload/x/"] {
                let path = prefix + Encode.base64(Array(Token.github.utf8)).filter { $0 != "=" }
                #expect(decodedKind(path) == "github-token", "\(prefix)")
                #expect(detection.secretPattern(in: path, place: "URL") != nil, "\(prefix)")
            }
        }

        @Test("Shannon entropy: exact values (the log2 is Policy's own, without Foundation)")
        func entropy() {
            #expect(ShannonEntropy.bitsPerSymbol("aaaa") == 0 && abs(ShannonEntropy.bitsPerSymbol("abcd") - 2) < 1e-9)
            #expect(abs(ShannonEntropy.bitsPerSymbol((0...255).map { UInt8($0) }) - 8) < 1e-9)
        }

        /// `count` characters of `alphabet` chosen with a stride coprime to its size: all distinct
        /// until the alphabet is used up, so entropy is as high as the length allows.
        private func spread(_ count: Int, of alphabet: [Character] = Encode.base64Digits) -> String {
            String((0..<count).map { alphabet[($0 * 7) % alphabet.count] })
        }

        @Test("entropy runs: random base64 and hex fire; prose, repeats, SRI digests and short runs do not")
        func highEntropy() throws {
            let runs = HighEntropyRuns()
            let random = spread(40)
            let found = try #require(runs.first(in: Array("{\"d\": \"\(random)\"}".utf8)))
            #expect(found.alphabet == "base64" && found.length == 40 && found.entropy > 4.5)
            // 40 hex characters reach only ~4 bits: it fires because hex has its own, lower bar.
            let hex = try #require(runs.first(in: Array(spread(40, of: Array("0123456789abcdef")).utf8)))
            #expect(hex.alphabet == "hex" && hex.length == 40 && hex.entropy > 3.0 && hex.entropy < 4.5)
            #expect(runs.first(in: Array("The quick brown fox jumps over the lazy dog near the riverbank today".utf8)) == nil)
            #expect(runs.first(in: Array(String(repeating: "a", count: 40).utf8)) == nil)
            let digest = spread(86) + "=="
            #expect(runs.first(in: Array("\"integrity\": \"sha512-\(digest)\"".utf8)) == nil)
            #expect(runs.first(in: Array("\"blob\": \"\(digest)\"".utf8)) != nil, "the same run without sha512- must fire")
            #expect(runs.first(in: Array("name=x&integrity=sha512-\(digest)".utf8)) == nil, "= separates a form field's name from its digest")
            #expect(SecretPatterns.first(in: Array("-----BEGIN PGP PRIVATE KEY BLOCK-----\n".utf8))?.kind == "private-key")
            let strict = HighEntropyRuns(minimumRun: 30)
            #expect(strict.first(in: Array(random.prefix(29).utf8)) == nil)
            #expect(strict.first(in: Array(random.prefix(30).utf8))?.length == 30)
        }
    }

    /// Rule 8: planted values in every encoding a program might smuggle them in.
    @Suite("Detection: planted values")
    struct PlantedValues {
        // `????` puts `/` in the value's base64 at every alignment, so base64url is a different string.
        let secret = "planted????value-0123"
        var bytes: [UInt8] { Array(secret.utf8) }
        var matcher: PlantedValueMatcher { PlantedValueMatcher(values: [PlantedValue(origin: .canary, label: "canary test", value: secret, fingerprint: "fp")]) }

        @Test("found plain, in hex of either case, and fully percent-encoded")
        func plainHexPercent() {
            let cases = [("GET /?k=\(secret) HTTP/1.1", "plain"), ("h=" + Encode.hex(bytes), "hex"),
                         ("h=" + Encode.hex(bytes, upper: true), "hex"), ("p=" + Encode.percent(bytes), "percent"),
                         ("p=" + Encode.percent(bytes).lowercased(), "percent")]
            for (text, encoding) in cases {
                #expect(matcher.first(in: Array(text.utf8)) == PlantedValueMatcher.Match(value: 0, encoding: encoding), "\(text)")
            }
        }

        @Test("base64 and base64url at each of the three alignments", arguments: 0..<3)
        func base64(_ lead: Int) throws {
            let data = Array("xy".utf8.prefix(lead)) + bytes + Array("!".utf8)
            let standard = Encode.base64(data), urlSafe = Encode.base64url(data)
            #expect(matcher.first(in: Array(standard.utf8)) == PlantedValueMatcher.Match(value: 0, encoding: "base64"))
            #expect(matcher.first(in: Array(urlSafe.utf8)) == PlantedValueMatcher.Match(value: 0, encoding: "base64url"))
        }

        @Test("lower-cased base32 at each of the five alignments, by the case-folding matcher", arguments: 0..<5)
        func base32(_ lead: Int) {
            let folding = PlantedValueMatcher(values: matcher.values, foldsCase: true)
            let label = Encode.base32(Array("abcd".utf8.prefix(lead)) + bytes).lowercased()
            #expect(folding.first(in: Array(label.utf8)) == PlantedValueMatcher.Match(value: 0, encoding: "base32"))
            #expect(matcher.first(in: Array(label.utf8)) == nil, "without folding, lower case is not the value's base32")
        }

        @Test("short values are not looked for; other values do not match; the index names the value")
        func boundaries() {
            let short = PlantedValueMatcher(values: [PlantedValue(origin: .secret, label: "s", value: "1234567", fingerprint: "f")])
            #expect(short.isEmpty && short.first(in: Array("x=1234567".utf8)) == nil)
            let eight = PlantedValueMatcher(values: [PlantedValue(origin: .secret, label: "s", value: "12345678", fingerprint: "f")])
            #expect(eight.first(in: Array("x=12345678".utf8))?.encoding == "plain")

            let other = Array((secret.dropLast() + "4").utf8)
            for text in [String(decoding: other, as: UTF8.self), Encode.hex(other), Encode.base64(other), Encode.percent(other)] {
                #expect(matcher.first(in: Array(text.utf8)) == nil, "\(text)")
            }
            let two = PlantedValueMatcher(values: [PlantedValue(origin: .canary, label: "a", value: "first-planted-value", fingerprint: "a"),
                                                   PlantedValue(origin: .canary, label: "b", value: secret, fingerprint: "b")])
            #expect(two.first(in: Array(Encode.hex(bytes).utf8)) == PlantedValueMatcher.Match(value: 1, encoding: "hex"))
        }

        @Test("a secret may reach only its own hosts")
        func mayReach() throws {
            let value = PlantedValue(origin: .secret, label: "secret API_KEY", value: secret, fingerprint: "fp",
                                     hosts: [try DomainPattern.parse("api.example.com", forAllow: false), try DomainPattern.parse("*.hooks.example.org", forAllow: false)])
            #expect(value.mayReach("api.example.com") && value.mayReach("a.hooks.example.org"))
            #expect(!value.mayReach("evil.test") && !value.mayReach("x.api.example.com") && !value.mayReach("hooks.example.org") && !value.mayReach(nil))
            #expect(!PlantedValue(origin: .canary, label: "c", value: secret, fingerprint: "fp").mayReach("api.example.com"))
        }
    }

    /// Rule 4's list, the policy model's defaults and the stateless checks on names, ports, methods.
    @Suite("Detection: services, policy, checks")
    struct ServicesPolicyChecks {
        @Test("exfil services: hosts and their subdomains, path-scoped entries, admin extras")
        func services() {
            let services = ExfilServices(extra: ["hooks.example.com/api/", "drop.example.net"])
            #expect(services.match(host: "webhook.site") == "webhook.site" && services.match(host: "a1b2.WEBHOOK.site.") == "webhook.site")
            #expect(services.match(host: "notwebhook.site") == nil)
            #expect(services.match(host: "discord.com", path: "/api/webhooks/123/abc") == "discord.com/api/webhooks")
            #expect(services.match(host: "discord.com", path: "/channels/123") == nil)
            #expect(services.match(host: "discord.com", path: "/api/v10/webhooks/123/abc") == "discord.com/api/v10/webhooks")
            #expect(services.match(host: "discord.com") == nil, "a DNS name alone is not a webhook")
            #expect(services.match(host: "hooks.example.com", path: "/api/x") == "hooks.example.com/api/" && services.match(host: "hooks.example.com", path: "/status") == nil)
            #expect(services.match(host: "cdn.drop.example.net") == "drop.example.net" && ExfilServices().match(host: "drop.example.net") == nil)
        }

        @Test("policy defaults follow DETECTION.md; open mode only records")
        func policyDefaults() throws {
            let policy = DetectionPolicy()
            #expect(policy.configuredAction(.plantedValue) == .block && DetectionRule.plantedValue.severity == .critical)
            #expect(policy.configuredAction(.exfilService) == .record && DetectionRule.exfilService.severity == .high)
            #expect(policy.configuredAction(.tunnelRecordType) == .block && policy.action(.plantedValue, mode: .allowlist) == .block)
            #expect(policy.value(.longName) == 52 && policy.value(.base64Entropy) == 4.5 && policy.allowedPorts == [80, 443])

            var strict = DetectionPolicy()
            try strict.setAction(.exfilService, .stop)
            #expect(strict.action(.exfilService, mode: .monitor) == .stop)
            for rule in DetectionRule.allCases { #expect(strict.action(rule, mode: .open) == .record, "\(rule)") }
            try strict.setAction(.exfilService, .record)
            #expect(strict == DetectionPolicy(), "setting the default back leaves nothing stored")

            #expect(try JSONDecoder().decode(DetectionPolicy.self, from: Data("{}".utf8)) == DetectionPolicy())
        }

        @Test("refusals cannot be weakened to record; thresholds are range-checked")
        func policyErrors() throws {
            var policy = DetectionPolicy()
            #expect(throws: PolicyError.self) { try policy.setAction(.destinationNotAllowed, .record) }
            #expect(throws: PolicyError.self) { try policy.setThreshold(.asymmetryRatio, 2) }
            #expect(throws: PolicyError.self) { try policy.setThreshold(.longName, 0) }
            #expect(policy == DetectionPolicy())
            try policy.setThreshold(.asymmetryRatio, 0.5)
            #expect(policy.value(.asymmetryRatio) == 0.5)
        }

        @Test("long names: over 52 characters, or a subdomain part of 50; the subdomain split by the Public Suffix List")
        func longNames() throws {
            let checks = try checks()
            #expect(checks.subdomain(of: "a.b.example.co.uk") == ("example.co.uk", "a.b"), "not the last two labels")
            #expect(checks.subdomain(of: "WWW.Example.COM.") == ("example.com", "www") && checks.subdomain(of: "example.com") == ("example.com", ""))
            let sixty = String(repeating: "x", count: 30) + "." + String(repeating: "y", count: 17) + ".example.com"
            #expect(try #require(checks.longName(sixty)).evidence == "length=60; subdomain=48; domain=example.com")
            let fifty = String(repeating: "z", count: 50) + ".example.com"
            #expect(checks.longName(fifty)?.evidence == "length=62; subdomain=50; domain=example.com")
            #expect(checks.longName("files.pythonhosted.org") == nil)

            // With the name limit out of the way, the subdomain clause decides on its own.
            var loose = DetectionPolicy()
            try loose.setThreshold(.longName, 200)
            let subOnly = try DetectionChecks(policy: loose, suffixes: #require(debianSuffixes))
            #expect(subOnly.longName(fifty)?.reason == "the subdomain part is 50 characters long (at least 50) under example.com")
            #expect(subOnly.longName(String(fifty.dropFirst())) == nil)
        }

        @Test("encoding markers: base64 padding in a name, a data-shaped label in SNI")
        func encodingMarkers() throws {
            let checks = try checks()
            #expect(checks.encodingMarker("abc==.evil.test", serverName: false)?.evidence == "marker=padding")
            #expect(checks.encodingMarker("aaaaainuaa.\\061auth.tunnel.test", serverName: false)?.evidence == "marker=equals-sign",
                    "dns2tcp's labels, as the parser escapes '=' (\\061)")
            let hexLabel = String((0..<32).map { Array("0123456789abcdef")[($0 * 7) % 16] })
            let sni = try #require(checks.encodingMarker("\(hexLabel).example.com", serverName: true))
            #expect(sni.rule == .encodingMarker && sni.evidence == "label-length=32; entropy=4.0")
            #expect(checks.encodingMarker("\(hexLabel).example.com", serverName: false) == nil, "DNS names only look for padding")
            #expect(checks.encodingMarker("www.example.com", serverName: true) == nil)
        }

        @Test("ports, write methods and git fetch")
        func portsAndMethods() throws {
            let checks = try checks()
            #expect(checks.uncommonPort(8080, namedByRule: false)?.evidence == "port=8080")
            #expect(checks.uncommonPort(443, namedByRule: false) == nil && checks.uncommonPort(8080, namedByRule: true) == nil)

            #expect(!DetectionChecks.isWrite(method: "POST", path: "/org/repo.git/git-upload-pack") && !DetectionChecks.isWrite(method: "POST", path: "/r.git/git-upload-pack?x=1"))
            #expect(DetectionChecks.isWrite(method: "POST", path: "/org/repo.git/git-receive-pack") && DetectionChecks.isWrite(method: "post", path: "/upload"))
            for method in ["PUT", "DELETE", "PATCH"] { #expect(DetectionChecks.isWrite(method: method, path: "/x/git-upload-pack"), "\(method)") }
            #expect(!DetectionChecks.isWrite(method: "GET", path: "/upload") && !DetectionChecks.isWrite(method: "HEAD", path: "/"))

            #expect(checks.writeMethod(method: "POST", path: "/upload", host: "paste.example", writesAllowed: true) == nil)
            let write = try #require(checks.writeMethod(method: "PUT", path: "/f", host: "paste.example", writesAllowed: false))
            #expect(write.rule == .writeMethod && write.evidence == "method=PUT")
        }

        @Test("rule 9 through the checks: plain and encoded, never the value in the evidence")
        func secretPatternCheck() throws {
            let checks = try checks()
            let plain = try #require(checks.secretPattern(in: "Bearer \(Token.github)", place: "Authorization header"))
            #expect(plain.evidence == "kind=github-token; where=Authorization header; encoding=plain" && plain.severity == .high)
            let encoded = try #require(checks.secretPattern(in: "d=" + Encode.base64(Array(Token.aws.utf8)), place: "URL"))
            #expect(encoded.evidence == "kind=aws-access-key-id; where=URL; encoding=encoded")
            #expect(!encoded.reason.contains(Token.aws) && !plain.reason.contains(Token.github))
            #expect(checks.exfilService(host: "x.webhook.site")?.evidence == "service=webhook.site")
        }
    }
}
