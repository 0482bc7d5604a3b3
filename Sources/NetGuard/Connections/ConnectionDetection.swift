import Policy
import Store

/// Exfiltration detection on a connection (DETECTION.md): the connection's own rules once
/// (destination, port, raw address, server name), each request's head (service, write method,
/// credentials and planted values in URL and headers, entropy of the query), each body as it
/// passes (planted values in every byte; credentials and entropy within the scan budget), and
/// the upload volume as it grows. A finding whose action is block or stop refuses the traffic
/// before it goes up.
extension Connection {
    /// The connection-level rules; returns the verdict, refused when an action says so.
    func detectConnection(_ verdict: Verdict, serverName: String?, now: UInt64) -> Verdict {
        guard let detector = owner.detector, !connectionDetected else { return verdict }
        connectionDetected = true
        var findings = Self.policyFindings(verdict)
        let checks = detector.checks
        if let found = checks.uncommonPort(destination.port, namedByRule: verdict.portNamed) { findings.append(found) }
        if verdict.flags.contains("raw-ip"), verdict.policyReason != .allowRule {
            findings.append(DetectionFinding(.rawAddress, "a connection to \(destination.address) that no DNS answer of this sandbox produced and no rule names",
                                             evidence: "address=\(destination.address)"))
        }
        if let serverName {
            if let found = checks.exfilService(host: serverName) { findings.append(found) }
            if let found = checks.encodingMarker(serverName, serverName: true) { findings.append(found) }
            if let found = Array(serverName.utf8).withUnsafeBytes({ detector.plantedValue(in: $0, host: nil, place: "TLS server name", inName: true) }) {
                findings.append(found)
            }
        }
        return apply(findings, to: verdict, method: nil, path: nil, now: now)
    }

    /// The rules on one request head (HTTP/1.x or HTTP/2).
    func detectRequest(_ head: HTTPRequestHead, _ verdict: Verdict, now: UInt64) -> Verdict {
        guard let detector = owner.detector else { return verdict }
        var verdict = verdict
        let first = !connectionDetected
        if first { verdict = detectConnection(verdict, serverName: nil, now: now) }
        let checks = detector.checks
        let host = verdict.name ?? head.host
        var findings: [DetectionFinding] = first ? [] : Self.policyFindings(verdict)
        if let host, let found = checks.exfilService(host: host, path: head.path) { findings.append(found) }
        let writesAllowed = verdict.hostNamed || detector.expectsPushes(host)
        if verdict.policyReason != .methodNotAllowed,
           let found = checks.writeMethod(method: head.method, path: head.path, host: host, writesAllowed: writesAllowed) {
            findings.append(found)
        }
        let target = Array(head.path.utf8)
        if let found = target.withUnsafeBytes({ detector.plantedValue(in: $0, host: host, place: "URL") }) { findings.append(found) }
        if let found = target.withUnsafeBytes({ detector.secretPattern(in: $0, host: host, place: "URL") }) { findings.append(found) }
        if let query = head.path.split(separator: "?", maxSplits: 1).dropFirst().first,
           let found = checks.highEntropy(in: String(query), place: "query string") {
            findings.append(found)
        }
        // The method and every header, names and values, but the Host already judged: a
        // method or a header name can carry a token as well as a value can.
        let fields = Array(head.method.utf8) + [0x0A] + Self.fieldText(head.headers.filter { $0.name.lowercased() != "host" })
        findings += fieldFindings(fields, detector: detector, host: host, place: "method or headers")
        verdict = apply(findings, to: verdict, method: head.method, path: head.path, now: now)
        if verdict.allowed {
            let type = head.headers.first { $0.name.lowercased() == "content-type" }?.value.lowercased() ?? ""
            bodyScan = BodyScan(host: host, method: head.method, path: head.path, budget: Int(detector.policy.value(.scanBytes)),
                                entropy: !type.hasPrefix("application/x-git-"))
            if head.chunked { bodyScan?.chunked = ChunkedPayload() }
        }
        return verdict
    }

    /// Planted values and credential shapes in header fields that come after the head (HTTP/2
    /// trailers); false when an action refuses them.
    func detectFields(_ fields: [HTTPHeader], host: String, place: String, now: UInt64) -> Bool {
        guard let detector = owner.detector, !fields.isEmpty else { return true }
        let findings = fieldFindings(Self.fieldText(fields), detector: detector, host: host, place: place)
        guard !findings.isEmpty else { return true }
        return apply(findings, to: verdict ?? .deny("", ""), method: nil, path: nil, now: now, allowedBefore: true).allowed
    }

    /// Header fields as one text, `name: value` per line.
    static func fieldText(_ fields: [HTTPHeader]) -> [UInt8] {
        var text: [UInt8] = []
        for field in fields { text += Array(field.name.utf8) + [0x3A, 0x20] + Array(field.value.utf8) + [0x0A] }
        return text
    }

    /// Rules 8 and 9 on header text (a head's fields, or trailers).
    private func fieldFindings(_ text: [UInt8], detector: SandboxDetector, host: String?, place: String) -> [DetectionFinding] {
        text.withUnsafeBytes { bytes in
            [detector.plantedValue(in: bytes, host: host, place: place), detector.secretPattern(in: bytes, host: host, place: place)].compactMap { $0 }
        }
    }

    /// Scans body bytes before they go up; false when the body was refused (the connection is
    /// then answered and closed).
    func scanBody(_ bytes: ArraySlice<UInt8>, now: UInt64, stream: UInt32? = nil) -> Bool {
        guard let detector = owner.detector, !bytes.isEmpty, var scan = stream.map({ streamScans[$0] }) ?? bodyScan else { return true }
        let findings = scan.scan(bytes, detector: detector)
        if let stream { streamScans[stream] = scan } else { bodyScan = scan }
        guard !findings.isEmpty else { return true }
        let verdict = apply(findings, to: verdict ?? .deny("", ""), method: scan.method, path: scan.path, now: now, allowedBefore: true)
        guard !verdict.allowed else { return true }
        detail.append("refused: \(verdict.rule) (in the body)")
        bodyScan = nil
        if upward == .http2 {
            close(now: now, note: "HTTP/2 body refused by \(verdict.rule)")
        } else {
            sendReply(status: "403 Forbidden", block: "\(verdict.rule): \(verdict.reason)", body: "warden: refused by \(verdict.rule): \(verdict.reason)")
            startDraining(now: now)
        }
        return false
    }

    /// Rules 11 and 12 as the upload grows: checked when it crosses the asymmetry minimum and
    /// each doubling after it, and at the two volume thresholds.
    func checkUpload(now: UInt64) {
        guard let detector = owner.detector, bytesUp >= nextUploadCheck, phase != .closed else { return }
        let policy = detector.policy
        let flagAt = Int64(policy.value(.uploadFlagBytes)), highAt = Int64(policy.value(.uploadHighBytes))
        let minimum = Int64(policy.value(.asymmetryMinimumBytes))
        var findings: [DetectionFinding] = []
        if bytesUp > highAt {
            findings.append(DetectionFinding(.uploadVolume, severity: .high, "\(bytesUp) bytes sent on one connection (more than \(highAt))", evidence: "bytes-up=\(bytesUp)"))
        } else if bytesUp > flagAt {
            findings.append(DetectionFinding(.uploadVolume, "\(bytesUp) bytes sent on one connection (more than \(flagAt))", evidence: "bytes-up=\(bytesUp)"))
        }
        if let found = asymmetry(detector, minimum: minimum) { findings.append(found) }
        var next = max(minimum, nextUploadCheck * 2)
        if bytesUp <= flagAt { next = min(next, flagAt + 1) } else if bytesUp <= highAt { next = min(next, highAt + 1) }
        nextUploadCheck = max(next, bytesUp + 1)
        guard !findings.isEmpty else { return }
        let judged = apply(findings, to: verdict ?? .deny("", ""), method: nil, path: nil, now: now, allowedBefore: true)
        if !judged.allowed { close(now: now, note: "upload refused by \(judged.rule)") }
    }

    /// Rule 12: the producer-consumer ratio of this connection, to a host not expected to
    /// receive pushes, once enough has gone up for the ratio to mean something.
    func asymmetry(_ detector: SandboxDetector, minimum: Int64) -> DetectionFinding? {
        guard bytesUp >= minimum, !flags.contains(DetectionRule.uploadAsymmetry.recordName) else { return nil }
        let host = verdict?.name ?? proxy?.host
        guard !detector.expectsPushes(host) else { return nil }
        let ratio = Double(bytesUp - bytesDown) / Double(bytesUp + bytesDown)
        let limit = detector.policy.value(.asymmetryRatio)
        guard ratio > limit else { return nil }
        let shown = (ratio * 100).rounded() / 100
        return DetectionFinding(.uploadAsymmetry, "\(bytesUp) bytes up and \(bytesDown) down to \(host ?? "\(destination.address)"): ratio \(shown) (more than \(limit)), and the host is not expected to receive pushes",
                                evidence: "pcr=\(shown); bytes-up=\(bytesUp); bytes-down=\(bytesDown)")
    }

    /// Records the findings (flags linked to this connection), carries out a stop, and turns an
    /// allowed verdict into a refusal when an action blocks.
    func apply(_ findings: [DetectionFinding], to verdict: Verdict, method: String?, path: String?, now: UInt64, allowedBefore: Bool = false) -> Verdict {
        guard !findings.isEmpty else { return verdict }
        var context = owner.recorder.make(.flag, proto: "tcp", allowed: true, rule: "", reason: "")
        fillDestination(&context)
        context.name = verdict.name ?? proxy?.host ?? ""
        context.nameSource = verdict.nameSource.rawValue
        context.method = method ?? ""
        context.path = path.map(QueryRedaction.path) ?? ""
        context.bytesUp = bytesUp
        context.bytesDown = bytesDown
        let action = owner.flag(findings, context: context, scope: "connection \(id)", link: "connection=\(id)", now: now)
        for finding in findings where !flags.contains(finding.rule.recordName) { flags.append(finding.rule.recordName) }
        guard let detector = owner.detector else { return verdict }
        return verdict.flagged(findings, action: action, detector: detector, refuse: allowedBefore || verdict.allowed)
    }

    /// Rules 1–3 (and 7's refusal) restated from a refusal the policy or the guard made.
    static func policyFindings(_ verdict: Verdict) -> [DetectionFinding] {
        switch verdict.rule {
        case "address-class", "address-class.host", "dns.rebinding":
            return verdict.allowed ? [] : [DetectionFinding(.internalAddress, verdict.reason, evidence: "refused-by=\(verdict.rule)")]
        case "dns-binding", "tls.host-mismatch":
            return verdict.allowed ? [] : [DetectionFinding(.hostMismatch, verdict.reason, evidence: "refused-by=\(verdict.rule)")]
        default:
            break
        }
        switch verdict.policyReason {
        case .notAllowed, .denyRule, .repositoryNarrowed:
            return [DetectionFinding(.destinationNotAllowed, verdict.reason, evidence: "refused-by=\(verdict.rule)")]
        case .internalAddress:
            return [DetectionFinding(.internalAddress, verdict.reason, evidence: "refused-by=\(verdict.rule)")]
        case .openMode(let would?):
            return [DetectionFinding(.destinationNotAllowed, "rule \(would) would refuse this (network mode open: recorded only)", evidence: "would-be-refused-by=\(would)")]
        case .methodNotAllowed:
            return [DetectionFinding(.writeMethod, verdict.reason, evidence: "refused-by=\(verdict.rule)")]
        default:
            return []
        }
    }

    static func joinedFlags(_ flags: [String]) -> String {
        var seen: [String] = []
        for flag in flags where !seen.contains(flag) { seen.append(flag) }
        return seen.joined(separator: ",")
    }
}

extension Connection {
    /// At close: the asymmetry of the whole connection, if it was not judged while it ran.
    func detectAtClose(now: UInt64) {
        guard let detector = owner.detector, verdict?.allowed == true, bytesUp > 0 else { return }
        let minimum = Int64(detector.policy.value(.asymmetryMinimumBytes))
        if let found = asymmetry(detector, minimum: minimum) {
            _ = apply([found], to: verdict ?? .deny("", ""), method: nil, path: nil, now: now)
        }
    }
}
