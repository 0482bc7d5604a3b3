/// Rule 10, after detect-secrets: runs of base64 or hex characters at least `minimumRun` long
/// whose Shannon entropy exceeds the threshold for their alphabet (base64 4.5, hex 3.0 bits per
/// character). Subresource-integrity digests (`sha512-…`) are names of public content, not
/// data, and are skipped.
public struct HighEntropyRuns: Sendable {
    public var minimumRun: Int
    public var base64Threshold: Double
    public var hexThreshold: Double

    public init(minimumRun: Int = 20, base64Threshold: Double = 4.5, hexThreshold: Double = 3.0) {
        self.minimumRun = minimumRun
        self.base64Threshold = base64Threshold
        self.hexThreshold = hexThreshold
    }

    public struct Finding: Sendable, Equatable {
        public var alphabet: String
        public var length: Int
        public var entropy: Double
    }

    /// The first run over its threshold, if any.
    public func first(in bytes: UnsafeRawBufferPointer) -> Finding? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let count = bytes.count
        return Self.base64Class.withUnsafeBufferPointer { table -> Finding? in
            var start = 0
            var index = 0
            while index < count {
                if !table[Int(base[index])] {
                    if index - start >= minimumRun, let finding = judge(UnsafeRawBufferPointer(rebasing: bytes[start..<index]), before: bytes[..<start]) {
                        return finding
                    }
                    start = index &+ 1
                }
                index &+= 1
            }
            if count - start >= minimumRun { return judge(UnsafeRawBufferPointer(rebasing: bytes[start..<count]), before: bytes[..<start]) }
            return nil
        }
    }

    public func first(in bytes: [UInt8]) -> Finding? {
        bytes.withUnsafeBytes { first(in: $0) }
    }

    private func judge(_ run: UnsafeRawBufferPointer, before: Slice<UnsafeRawBufferPointer>) -> Finding? {
        // `sha512-` and friends: the run starts right after the algorithm's dash.
        if Self.integrityPrefixes.contains(where: { prefix in before.count >= prefix.count && before.suffix(prefix.count).elementsEqual(prefix) })
            || Self.integrityPrefixes.contains(where: { prefix in run.count > prefix.count && run.prefix(prefix.count).elementsEqual(prefix) }) {
            return nil
        }
        let hex = run.allSatisfy { Self.hexClass[Int($0)] }
        let entropy = ShannonEntropy.bitsPerSymbol(run)
        if hex {
            return entropy > hexThreshold ? Finding(alphabet: "hex", length: run.count, entropy: entropy) : nil
        }
        return entropy > base64Threshold ? Finding(alphabet: "base64", length: run.count, entropy: entropy) : nil
    }

    private static let integrityPrefixes: [[UInt8]] = ["sha1-", "sha256-", "sha384-", "sha512-"].map { Array($0.utf8) }

    static let base64Class: [Bool] = (0..<256).map { byte in
        let c = UInt8(byte)
        // `=` ends a run: it is only padding in base64, and in a query or form it separates a
        // name from its value (`integrity=sha512-…` must not read as one run).
        return (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F || c == 0x2D || c == 0x5F
    }

    static let hexClass: [Bool] = (0..<256).map { byte in
        let c = UInt8(byte)
        return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
    }
}

/// Shannon entropy of a byte string, in bits per symbol.
public enum ShannonEntropy {
    public static func bitsPerSymbol(_ bytes: some Collection<UInt8>) -> Double {
        guard !bytes.isEmpty else { return 0 }
        var counts = [Int](repeating: 0, count: 256)
        for byte in bytes { counts[Int(byte)] += 1 }
        let total = Double(bytes.count)
        var bits = 0.0
        for count in counts where count > 0 {
            let p = Double(count) / total
            bits -= p * Double.log2(p)
        }
        return bits
    }

    public static func bitsPerSymbol(_ text: String) -> Double { bitsPerSymbol(Array(text.utf8)) }
}

extension Double {
    /// Base-2 logarithm without Foundation (series on the mantissa, exact exponent).
    static func log2(_ x: Double) -> Double {
        guard x > 0 else { return -.infinity }
        let exponent = Double(x.exponent)
        let mantissa = x.significand  // in [1, 2)
        // ln(m) = 2 atanh((m-1)/(m+1)), converges fast for m in [1, 2).
        let y = (mantissa - 1) / (mantissa + 1)
        let y2 = y * y
        var term = y
        var sum = 0.0
        var k = 1.0
        for _ in 0..<12 {
            sum += term / k
            term *= y2
            k += 2
        }
        return exponent + 2 * sum / 0.693_147_180_559_945_3
    }
}
