/// Rule 9: the shapes of real credentials, after gitleaks' rules (MIT): AWS access key ids,
/// GitHub tokens, PEM private keys, Anthropic, OpenAI, npm, PyPI and Slack tokens. Matched by
/// hand (a prefix, then an alphabet and a length) rather than by regular expressions: the
/// scan runs on every request, and one pass over the bytes with a first-byte table is cheap.
public enum SecretPatterns {
    public struct Finding: Sendable, Equatable {
        /// What kind of credential (never its value).
        public var kind: String
        /// Where it starts and how long it is, in the bytes scanned.
        public var offset: Int
        public var length: Int
    }

    private enum Alphabet {
        case upperDigits, alnum, alnumUnderscore, token, slack
        func contains(_ c: UInt8) -> Bool {
            let digit = c >= 0x30 && c <= 0x39, upper = c >= 0x41 && c <= 0x5A, lower = c >= 0x61 && c <= 0x7A
            switch self {
            case .upperDigits: return digit || upper
            case .alnum: return digit || upper || lower
            case .alnumUnderscore: return digit || upper || lower || c == 0x5F
            case .token: return digit || upper || lower || c == 0x5F || c == 0x2D
            case .slack: return digit || upper || lower || c == 0x2D
            }
        }
    }

    private struct Shape {
        var kind: String
        var prefix: [UInt8]
        var alphabet: Alphabet
        var minimum: Int
        var maximum: Int
        /// The character before the prefix must not continue a word (AKIA inside a longer token).
        var boundary = true
    }

    private static let shapes: [Shape] = [
        Shape(kind: "aws-access-key-id", prefix: Array("AKIA".utf8), alphabet: .upperDigits, minimum: 16, maximum: 16),
        Shape(kind: "aws-access-key-id", prefix: Array("ASIA".utf8), alphabet: .upperDigits, minimum: 16, maximum: 16),
        Shape(kind: "github-token", prefix: Array("ghp_".utf8), alphabet: .alnum, minimum: 36, maximum: 36),
        Shape(kind: "github-token", prefix: Array("gho_".utf8), alphabet: .alnum, minimum: 36, maximum: 36),
        Shape(kind: "github-token", prefix: Array("ghu_".utf8), alphabet: .alnum, minimum: 36, maximum: 36),
        Shape(kind: "github-token", prefix: Array("ghs_".utf8), alphabet: .alnum, minimum: 36, maximum: 36),
        Shape(kind: "github-token", prefix: Array("ghr_".utf8), alphabet: .alnum, minimum: 36, maximum: 36),
        Shape(kind: "github-fine-grained-token", prefix: Array("github_pat_".utf8), alphabet: .alnumUnderscore, minimum: 82, maximum: 82),
        Shape(kind: "anthropic-api-key", prefix: Array("sk-ant-".utf8), alphabet: .token, minimum: 32, maximum: 200),
        Shape(kind: "openai-api-key", prefix: Array("sk-proj-".utf8), alphabet: .token, minimum: 40, maximum: 200),
        Shape(kind: "openai-api-key", prefix: Array("sk-svcacct-".utf8), alphabet: .token, minimum: 40, maximum: 200),
        Shape(kind: "openai-api-key", prefix: Array("sk-admin-".utf8), alphabet: .token, minimum: 40, maximum: 200),
        Shape(kind: "openai-api-key", prefix: Array("sk-".utf8), alphabet: .alnum, minimum: 48, maximum: 48),
        Shape(kind: "npm-token", prefix: Array("npm_".utf8), alphabet: .alnum, minimum: 36, maximum: 36),
        Shape(kind: "pypi-token", prefix: Array("pypi-AgEIcHlwaS5vcmc".utf8), alphabet: .token, minimum: 50, maximum: 300),
        Shape(kind: "slack-token", prefix: Array("xoxb-".utf8), alphabet: .slack, minimum: 10, maximum: 200),
        Shape(kind: "slack-token", prefix: Array("xoxp-".utf8), alphabet: .slack, minimum: 10, maximum: 200),
        Shape(kind: "slack-token", prefix: Array("xoxa-".utf8), alphabet: .slack, minimum: 10, maximum: 200),
        Shape(kind: "slack-token", prefix: Array("xoxr-".utf8), alphabet: .slack, minimum: 10, maximum: 200),
        Shape(kind: "slack-token", prefix: Array("xoxs-".utf8), alphabet: .slack, minimum: 10, maximum: 200),
        Shape(kind: "slack-token", prefix: Array("xoxe-".utf8), alphabet: .slack, minimum: 10, maximum: 200),
    ]

    /// For each byte, the shapes whose prefix starts with it (the PEM marker's dash has none;
    /// it is checked on its own).
    private static let byFirstByte: [[Int]] = (0..<256).map { byte in
        shapes.indices.filter { shapes[$0].prefix[0] == UInt8(byte) }
    }

    /// The first two bytes of every shape (and the PEM marker's `--`), as a 65,536-bit set:
    /// the scan tests one bit per position and looks further only where a prefix could start.
    private static let startingPairs: [UInt64] = {
        var bits = [UInt64](repeating: 0, count: 1024)
        for pair in shapes.map({ Int($0.prefix[0]) << 8 | Int($0.prefix[1]) }) + [0x2D2D] { bits[pair >> 6] |= 1 << UInt64(pair & 63) }
        return bits
    }()

    /// The first credential in `bytes`, if any. One pass with a first-byte table; the shapes
    /// are tried only where one could start.
    public static func first(in bytes: UnsafeRawBufferPointer) -> Finding? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let count = bytes.count
        var from = 0
        while true {
            let next: Int? = startingPairs.withUnsafeBufferPointer { table in
                var index = from
                while index &+ 1 < count {
                    let pair = Int(base[index]) &<< 8 | Int(base[index &+ 1])
                    if table[pair &>> 6] & (1 &<< UInt64(pair & 63)) != 0 { return index }
                    index &+= 1
                }
                return nil
            }
            guard let index = next else { return nil }
            let byte = base[index]
            if byte == 0x2D, let length = privateKeyMarker(bytes, at: index) {
                return Finding(kind: "private-key", offset: index, length: length)
            }
            for candidate in byFirstByte[Int(byte)] {
                if let length = match(shapes[candidate], bytes, at: index) {
                    return Finding(kind: shapes[candidate].kind, offset: index, length: length)
                }
            }
            from = index + 1
        }
    }

    public static func first(in bytes: [UInt8]) -> Finding? {
        bytes.withUnsafeBytes { first(in: $0) }
    }

    private static func match(_ shape: Shape, _ bytes: UnsafeRawBufferPointer, at start: Int) -> Int? {
        let prefix = shape.prefix
        guard start + prefix.count + shape.minimum <= bytes.count else { return nil }
        if shape.boundary, start > 0, Alphabet.alnum.contains(bytes[start - 1]) { return nil }
        for k in 1..<prefix.count where bytes[start + k] != prefix[k] { return nil }
        var length = 0
        var index = start + prefix.count
        while index < bytes.count && length <= shape.maximum && shape.alphabet.contains(bytes[index]) {
            length += 1
            index += 1
        }
        guard length >= shape.minimum && length <= shape.maximum else { return nil }
        return prefix.count + length
    }

    private static let pemBegin = Array("-----BEGIN ".utf8)
    private static let pemEnd = Array("PRIVATE KEY-----".utf8)
    private static let pgpEnd = Array("PRIVATE KEY BLOCK-----".utf8)

    /// `-----BEGIN [WORDS ]PRIVATE KEY-----` (RSA, EC, DSA, OPENSSH, ENCRYPTED, none).
    private static func privateKeyMarker(_ bytes: UnsafeRawBufferPointer, at start: Int) -> Int? {
        guard start + pemBegin.count + pemEnd.count <= bytes.count else { return nil }
        for k in 0..<pemBegin.count where bytes[start + k] != pemBegin[k] { return nil }
        var index = start + pemBegin.count
        let limit = min(bytes.count, index + 40)
        while index < limit {
            let c = bytes[index]
            if c == pemEnd[0], index + pemEnd.count <= bytes.count,
               (0..<pemEnd.count).allSatisfy({ bytes[index + $0] == pemEnd[$0] }) {
                return index + pemEnd.count - start
            }
            // OpenPGP: `-----BEGIN PGP PRIVATE KEY BLOCK-----`.
            if c == pgpEnd[0], index + pgpEnd.count <= bytes.count,
               (0..<pgpEnd.count).allSatisfy({ bytes[index + $0] == pgpEnd[$0] }) {
                return index + pgpEnd.count - start
            }
            guard (c >= 0x41 && c <= 0x5A) || c == 0x20 else { return nil }
            index += 1
        }
        return nil
    }
}
