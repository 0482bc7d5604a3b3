import Policy

/// The scan of one request body as it passes, chunk by chunk: planted values in every byte,
/// credential shapes and entropy within the budget. The last bytes of each chunk are kept and
/// scanned again with the next, so a value split across chunks is still found.
struct BodyScan {
    var host: String?
    var method: String
    var path: String
    /// Bytes left for the pattern and entropy rules.
    var budget: Int
    /// Off for git's protocol bodies, whose object ids are hex by design.
    var entropy: Bool
    /// Set for a chunked body: what is scanned is its data, not its framing.
    var chunked: ChunkedPayload?
    private var tail: [UInt8] = []
    private var reported: Set<DetectionRule> = []
    static let overlap = 512

    init(host: String?, method: String, path: String, budget: Int, entropy: Bool) {
        self.host = host
        self.method = method
        self.path = path
        self.budget = budget
        self.entropy = entropy
    }

    mutating func scan(_ bytes: ArraySlice<UInt8>, detector: SandboxDetector) -> [DetectionFinding] {
        var chunk = bytes
        if chunked != nil, let data = chunked?.extract(bytes) { chunk = data[...] }
        var window = tail
        window.append(contentsOf: chunk)
        var findings: [DetectionFinding] = []
        window.withUnsafeBytes { bytes in
            if let found = detector.plantedValue(in: bytes, host: host, place: "body") { findings.append(found) }
            guard budget > 0 else { return }
            let limited = UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, tail.count + budget)])
            if !reported.contains(.secretPattern), let found = detector.secretPattern(in: limited, host: host, place: "body") {
                findings.append(found)
            }
            if entropy, !reported.contains(.highEntropy), let found = detector.checks.highEntropy(in: limited, place: "body") {
                findings.append(found)
            }
        }
        budget -= min(budget, chunk.count)
        for finding in findings { reported.insert(finding.rule) }
        let keep = min(window.count, max(Self.overlap, detector.planted.overlap))
        tail = Array(window.suffix(keep))
        return findings
    }

}

/// The data of a chunked body, without its framing (chunk sizes, extensions, CRLFs), so that a
/// value sent in many small chunks is still one run of bytes to the scan. The framing itself
/// was checked by `ChunkedBodyScanner`; trailers are passed on as data (they are scanned too).
struct ChunkedPayload {
    private enum State {
        case size, extensionText, sizeLineFeed, data, dataCarriageReturn, dataLineFeed, trailers
    }

    private var state = State.size
    private var size = 0
    private var left = 0

    mutating func extract(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let c = bytes[index]
            switch state {
            case .size:
                if let digit = Self.hexValue(c) {
                    size = min(size &* 16 &+ digit, Int.max >> 8)
                } else if c == 0x3B {
                    state = .extensionText
                } else if c == 0x0D {
                    state = .sizeLineFeed
                }
            case .extensionText:
                if c == 0x0D { state = .sizeLineFeed }
            case .sizeLineFeed:
                if size == 0 {
                    state = .trailers
                } else {
                    state = .data
                    left = size
                }
                size = 0
            case .data:
                let take = min(left, bytes.endIndex - index)
                out += bytes[index..<(index + take)]
                left -= take
                index += take
                if left == 0 { state = .dataCarriageReturn }
                continue
            case .dataCarriageReturn:
                state = .dataLineFeed
            case .dataLineFeed:
                state = .size
            case .trailers:
                out.append(c)
            }
            index += 1
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x61...0x66: return Int(c - 0x61 + 10)
        case 0x41...0x46: return Int(c - 0x41 + 10)
        default: return nil
        }
    }
}
