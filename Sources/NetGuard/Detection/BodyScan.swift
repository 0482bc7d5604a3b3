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

    mutating func scan(_ chunk: ArraySlice<UInt8>, detector: SandboxDetector) -> [DetectionFinding] {
        var window = tail
        window.append(contentsOf: chunk)
        var findings: [DetectionFinding] = []
        window.withUnsafeBytes { bytes in
            if let found = detector.plantedValue(in: bytes, host: host, place: "body") { findings.append(found) }
            guard budget > 0 else { return }
            let limited = UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, tail.count + budget)])
            if !reported.contains(.secretPattern), !secretGivenToHost(limited, detector),
               let found = detector.checks.secretPattern(in: limited, place: "body") {
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

    /// A body carrying a secret to a host it may reach (an API key in a JSON login) is not
    /// judged by the credential shapes.
    private func secretGivenToHost(_ bytes: UnsafeRawBufferPointer, _ detector: SandboxDetector) -> Bool {
        guard let match = detector.planted.first(in: bytes) else { return false }
        return detector.planted.values[match.value].mayReach(host)
    }
}
