import Policy
import Store

/// Detection for one sandbox: the stateless checks, the planted-value matchers, and the
/// per-sandbox state of the count rules (DNS activity per registered domain, NXDOMAIN burst,
/// DNS volume). Each evaluation returns the findings and the strongest action; recording and
/// carrying out the action is the caller's (it knows the connection or query). Runs only on
/// its guard's thread.
final class SandboxDetector {
    let policy: DetectionPolicy
    let mode: NetworkPolicy.Mode
    let pushTargets: [DomainPattern]
    private let values: [PlantedValue]
    /// Built at the first traffic, on the guard's thread, not while the sandbox is launched.
    private(set) lazy var checks = DetectionChecks(policy: policy, suffixes: SuffixListCache.shared.list())
    private(set) lazy var planted = PlantedValueMatcher(values: values)
    /// The same values, compared without case (DNS names).
    private(set) lazy var plantedInNames = PlantedValueMatcher(values: values, foldsCase: true)
    private let stopSandbox: (@Sendable (String) -> Void)?
    /// Why the sandbox was stopped, once a `stop` action fired.
    private(set) var stopReason: String?
    var dns = DNSActivity()
    /// Per (rule, scope) key: when a flag was last written and how many were left out since.
    private var lastWritten: [String: (time: UInt64, suppressed: Int)] = [:]
    static let repeatWindow: UInt64 = 60_000_000_000

    init(_ setup: GuardDetection, mode: NetworkPolicy.Mode) {
        policy = setup.policy
        self.mode = mode
        values = setup.planted
        pushTargets = setup.pushTargets
        stopSandbox = setup.stopSandbox
        dns.configure(policy)
    }

    /// What the guard does for these findings in this network mode: the strongest action.
    func action(for findings: [DetectionFinding]) -> DetectionAction {
        var strongest = DetectionAction.record
        for finding in findings {
            switch policy.action(finding.rule, mode: mode) {
            case .stop: strongest = .stop
            case .block: if strongest == .record { strongest = .block }
            case .record: break
            }
        }
        return strongest
    }

    /// Stops the sandbox (once): the first stop's reason is the one kept.
    func stop(because finding: DetectionFinding) {
        guard stopReason == nil else { return }
        let reason = "stopped by detection rule \(finding.rule.rawValue) (\(finding.rule.id)): \(finding.reason)"
        stopReason = reason
        stopSandbox?(reason)
    }

    /// Whether a flag for `key` should be written now (the first in its window), and how many
    /// like it were left out since the last one written.
    func shouldWrite(_ key: String, now: UInt64) -> (write: Bool, suppressed: Int) {
        if let last = lastWritten[key], now - last.time < Self.repeatWindow {
            lastWritten[key] = (last.time, last.suppressed + 1)
            return (false, 0)
        }
        let suppressed = lastWritten[key]?.suppressed ?? 0
        if lastWritten.count > 4096 { lastWritten = lastWritten.filter { now - $0.value.time < Self.repeatWindow } }
        lastWritten[key] = (now, 0)
        return (true, suppressed)
    }

    /// Rule 8 in bytes going to `host`: a canary anywhere, a secret outside its hosts.
    func plantedValue(in bytes: UnsafeRawBufferPointer, host: String?, place: String, inName: Bool = false) -> DetectionFinding? {
        let matcher = inName ? plantedInNames : planted
        guard !matcher.isEmpty, let match = matcher.first(in: bytes, counts: { $0.origin == .canary || !$0.mayReach(host) }) else { return nil }
        let value = matcher.values[match.value]
        let whom = host.map { "to \($0.prefix(80))" } ?? "to an address"
        let reason = value.origin == .canary
            ? "the canary \(value.label) was sent \(whom) in the \(place)\(match.encoding == "plain" ? "" : " (\(match.encoding))"): a program read a planted credential and sent it out"
            : "the value of \(value.label) was sent \(whom) in the \(place)\(match.encoding == "plain" ? "" : " (\(match.encoding))"), which is not among the hosts it may reach"
        return DetectionFinding(.plantedValue, reason, evidence: "\(value.origin.rawValue)=\(value.label); fingerprint=\(value.fingerprint); encoding=\(match.encoding); where=\(place)")
    }

    /// `bytes` with every occurrence, in any encoding, of a secret that may go to `host`
    /// blanked out, so that rule 9 does not take an API key on its way to its own API for a
    /// leak (nor hide anything else); nil when there is none.
    func withoutPermittedSecrets(_ bytes: UnsafeRawBufferPointer, host: String?) -> [UInt8]? {
        guard !planted.isEmpty else { return nil }
        let permitted = planted.matches(in: bytes).filter { planted.values[$0.value].origin == .secret && planted.values[$0.value].mayReach(host) }
        guard !permitted.isEmpty else { return nil }
        var masked = Array(bytes)
        for found in permitted {
            for index in found.offset..<min(masked.count, found.offset + found.length) { masked[index] = 0x20 }
        }
        return masked
    }

    /// Rule 9 on bytes going to `host`, with the secrets that may go there blanked out.
    func secretPattern(in bytes: UnsafeRawBufferPointer, host: String?, place: String) -> DetectionFinding? {
        if let masked = withoutPermittedSecrets(bytes, host: host) {
            return masked.withUnsafeBytes { checks.secretPattern(in: $0, place: place) }
        }
        return checks.secretPattern(in: bytes, place: place)
    }

    /// Whether `host` is expected to receive pushes (rule 12's exemption).
    func expectsPushes(_ host: String?) -> Bool {
        guard let host else { return false }
        return pushTargets.contains { $0.matches(host) }
    }
}
