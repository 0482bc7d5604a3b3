import ArgumentParser
import Policy
import WardenSystem

/// `warden-admin explain --action detect`: the exfiltration rules that would fire on one
/// request (or DNS name), computed by the same checks the guard runs, with the action each
/// would take under the policy's network mode. Count and volume rules (11, 12, 14, 16, 17,
/// 19) need traffic over time; their thresholds are listed instead.
extension ExplainCommand {
    struct DetectionExplanation: Encodable {
        var version: Int
        var mode: String
        var enabled: Bool
        var fires: [Fired]
        var thresholds: [String: Double]
    }

    struct Fired: Encodable {
        var rule: Int
        var id: String
        var severity: String
        var action: String
        var reason: String
    }

    func explainDetection(_ policy: OrgPolicy, version: Int, session: AdminSession) throws {
        guard host != nil || ip != nil else { throw AdminSession.invalid("explain --action detect needs --host NAME or --ip ADDRESS") }
        let address = try ip.map { text throws -> IPAddress in
            guard let address = IPAddress(text) else { throw AdminSession.invalid("--ip \(text): not an IPv4 or IPv6 address") }
            return address
        }
        if let host, DomainName.normalize(host) == nil { throw AdminSession.invalid("--host \(host): not a valid host name") }
        let suffixes: PublicSuffixList
        do { suffixes = PublicSuffixList(text: try Files.readText(PublicSuffixList.debianPath, limit: 8 << 20)) } catch {
            printError("warden-admin: the Public Suffix List \(PublicSuffixList.debianPath) cannot be read (Debian package publicsuffix): \(error.description)")
            throw ExitCode(AdminExitCode.storeFailed)
        }
        var body: [UInt8] = []
        if let bodyFile {
            do { body = try Files.read(bodyFile, limit: 16 << 20) } catch {
                throw AdminSession.invalid("--body-file \(bodyFile): \(error.description)")
            }
        }
        let detection = policy.network.detection
        let checks = DetectionChecks(policy: detection, suffixes: suffixes)
        let requestPath = path ?? "/"
        let decision = EgressRequest(host: host, address: address, port: port ?? 443, method: method, path: path)
            .map { EgressPolicy(network: policy.network).evaluate($0) }
        var findings: [DetectionFinding] = []
        if let host {
            if let found = checks.exfilService(host: host, path: method == nil ? nil : requestPath) { findings.append(found) }
            if let found = checks.longName(host) { findings.append(found) }
            if let found = checks.encodingMarker(host, serverName: true) { findings.append(found) }
        } else if let address, decision?.reason != .allowRule {
            findings.append(DetectionFinding(.rawAddress, "a connection to \(address) that no DNS answer produced and no rule names"))
        }
        if let port, let found = checks.uncommonPort(port, namedByRule: decision?.portNamed ?? false) { findings.append(found) }
        if let method {
            let pushTarget = host.map { name in detection.publishTargets.contains { (try? DomainPattern.parse($0, forAllow: false))?.matches(name) == true } } ?? false
            if let found = checks.writeMethod(method: method, path: requestPath, host: host, writesAllowed: decision?.hostNamed == true || pushTarget) {
                findings.append(found)
            }
        }
        if let found = checks.secretPattern(in: requestPath, place: "URL") { findings.append(found) }
        if let query = requestPath.split(separator: "?", maxSplits: 1).dropFirst().first, let found = checks.highEntropy(in: String(query), place: "query string") {
            findings.append(found)
        }
        if !body.isEmpty {
            body.withUnsafeBytes { bytes in
                if let found = checks.secretPattern(in: bytes, place: "body") { findings.append(found) }
                if let found = checks.highEntropy(in: bytes, place: "body") { findings.append(found) }
            }
        }
        if let decision, !decision.allowed {
            findings.insert(DetectionFinding(decision.reason == .methodNotAllowed ? .writeMethod : .destinationNotAllowed, decision.sentence), at: 0)
        }
        let mode = policy.network.mode
        let fired = findings.map { Fired(rule: $0.rule.rawValue, id: $0.rule.id, severity: $0.severity.rawValue,
                                         action: detection.action($0.rule, mode: mode).rawValue, reason: $0.reason) }
        if options.json {
            var thresholds: [String: Double] = [:]
            for threshold in DetectionThreshold.allCases { thresholds[threshold.rawValue] = detection.value(threshold) }
            session.emit(DetectionExplanation(version: version, mode: mode.rawValue, enabled: detection.enabled, fires: fired, thresholds: thresholds))
            return
        }
        print("detection \(detection.enabled ? "on" : "OFF (detection.enabled): nothing below would be flagged")  network mode \(mode.rawValue)  (policy version \(version))")
        if fired.isEmpty { print("no stateless rule would fire") }
        for entry in fired {
            print("FIRES  rule \(entry.rule) \(entry.id) (\(entry.severity)) -> \(entry.action)")
            print("       \(entry.reason)")
        }
        print("count rules (need traffic over time): upload > \(SettingValue.text(number: detection.value(.uploadFlagBytes))) bytes, ratio > \(detection.value(.asymmetryRatio)) after \(SettingValue.text(number: detection.value(.asymmetryMinimumBytes))) bytes; > \(SettingValue.text(number: detection.value(.subdomainsPerHour))) subdomains/hour; TXT > \(SettingValue.text(number: detection.value(.txtAnswerLength))) chars; > \(SettingValue.text(number: detection.value(.nxdomainBurst))) NXDOMAIN per \(SettingValue.text(number: detection.value(.nxdomainWindowSeconds))) s")
    }
}
