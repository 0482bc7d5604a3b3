/// The encodings an exfiltrating program hides data in, undone so that rule 9 sees what was
/// encoded: percent-encoding, base64 (standard and URL-safe) and hex. `layers` decodes up to
/// `depth` times (DETECTION.md: depth 2, so base64 of hex, or percent of base64, is seen).
/// Only runs long enough to carry a credential are decoded, and the output is bounded.
public enum ContentDecoder {
    /// Shortest base64 run decoded (12 bytes of data).
    static let minimumBase64 = 16
    /// Shortest hex run decoded (16 bytes of data).
    static let minimumHex = 32

    /// The decoded forms of `bytes`, depth by depth (not including `bytes` itself).
    public static func layers(_ bytes: UnsafeRawBufferPointer, depth: Int = 2, budget: Int = 4 << 20) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var current = decodeOnce(bytes, budget: budget)
        var spent = current.reduce(0) { $0 + $1.count }
        for level in 1...max(1, depth) {
            result += current
            guard level < depth, spent < budget else { break }
            var next: [[UInt8]] = []
            for layer in current {
                let decoded = layer.withUnsafeBytes { decodeOnce($0, budget: budget - spent) }
                spent += decoded.reduce(0) { $0 + $1.count }
                next += decoded
                if spent >= budget { break }
            }
            current = next
        }
        return result
    }

    public static func layers(_ bytes: [UInt8], depth: Int = 2) -> [[UInt8]] {
        bytes.withUnsafeBytes { layers($0, depth: depth) }
    }

    /// One round: the percent-decoded whole (when it has escapes), then each base64 and each
    /// hex run decoded on its own.
    static func decodeOnce(_ bytes: UnsafeRawBufferPointer, budget: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var spent = 0
        if let decoded = percentDecoded(bytes) {
            out.append(decoded)
            spent += decoded.count
        }
        // The runs long enough to decode, found in one pass over the bytes.
        let runs: [Range<Int>] = base64Body.withUnsafeBufferPointer { table in
            guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return [] }
            var found: [Range<Int>] = []
            var start = 0
            var index = 0
            let count = bytes.count
            while index < count {
                if !table[Int(base[index])] {
                    if index &- start >= minimumBase64 { found.append(start..<index) }
                    start = index &+ 1
                }
                index &+= 1
            }
            if count - start >= minimumBase64 { found.append(start..<count) }
            return found
        }
        for range in runs where spent < budget {
            let run = UnsafeRawBufferPointer(rebasing: bytes[range])
            if run.count >= minimumHex, run.count % 2 == 0, run.allSatisfy({ HighEntropyRuns.hexClass[Int($0)] }) {
                let decoded = hexDecoded(run)
                spent += decoded.count
                out.append(decoded)
            } else {
                // Hex inside a longer run (`/u/414b…`, `0x414b…`): each hex stretch decoded at
                // both parities.
                var at = run.startIndex
                while at < run.endIndex {
                    guard HighEntropyRuns.hexClass[Int(run[at])] else { at += 1; continue }
                    var end = at
                    while end < run.endIndex && HighEntropyRuns.hexClass[Int(run[end])] { end += 1 }
                    if end - at >= minimumHex {
                        for parity in 0..<2 where end - at - parity >= minimumHex {
                            let decoded = hexDecoded(UnsafeRawBufferPointer(rebasing: run[(at + parity)..<end]))
                            spent += decoded.count
                            out.append(decoded)
                        }
                    }
                    at = end
                }
                // The run may start before the data does (`/collect/` + base64: `/` is a
                // base64 character): decoded from each of the four alignments, one of them
                // lines up with the data wherever it starts. Padding after it ends the run.
                for offset in 0..<4 where run.count - offset >= minimumBase64 {
                    guard let decoded = base64Decoded(UnsafeRawBufferPointer(rebasing: run[offset...])) else { break }
                    spent += decoded.count
                    out.append(decoded)
                }
            }
        }
        return out
    }

    /// Characters of a base64 run (either alphabet), padding excluded.
    static let base64Body: [Bool] = (0..<256).map { byte in
        let c = UInt8(byte)
        return (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F || c == 0x2D || c == 0x5F
    }

    private static let base64Value: [UInt8] = (0..<256).map { byte in
        let c = UInt8(byte)
        switch c {
        case 0x41...0x5A: return c - 0x41
        case 0x61...0x7A: return c - 0x61 + 26
        case 0x30...0x39: return c - 0x30 + 52
        case 0x2B, 0x2D: return 62
        case 0x2F, 0x5F: return 63
        default: return 0xFF
        }
    }

    /// Decodes a run of base64 characters (no padding); the trailing partial group is dropped.
    static func base64Decoded(_ run: UnsafeRawBufferPointer) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(run.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in run {
            let value = base64Value[Int(c)]
            guard value != 0xFF else { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }

    static func hexDecoded(_ run: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(run.count / 2)
        var index = 0
        while index + 1 < run.count {
            out.append(hexValue(run[index]) << 4 | hexValue(run[index + 1]))
            index += 2
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8 {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return 0
        }
    }

    /// `%XX` decoded (and `+` as a space, as forms write it); nil when there is no escape.
    public static func percentDecoded(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        var escapes = false
        var from = 0
        while let found = bytes[from...].firstIndex(of: 0x25) {
            if found + 2 < bytes.count, HighEntropyRuns.hexClass[Int(bytes[found + 1])], HighEntropyRuns.hexClass[Int(bytes[found + 2])] {
                escapes = true
                break
            }
            from = found + 1
        }
        guard escapes else { return nil }
        var index = 0
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        while index < bytes.count {
            let c = bytes[index]
            if c == 0x25, index + 2 < bytes.count, HighEntropyRuns.hexClass[Int(bytes[index + 1])], HighEntropyRuns.hexClass[Int(bytes[index + 2])] {
                out.append(hexValue(bytes[index + 1]) << 4 | hexValue(bytes[index + 2]))
                index += 3
            } else {
                out.append(c == 0x2B ? 0x20 : c)
                index += 1
            }
        }
        return out
    }
}
