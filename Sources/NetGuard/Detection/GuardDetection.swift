import Glibc
import Policy
import Store
import Synchronization
import WardenSystem

/// What a guard's detection is given for one sandbox: the policy's rules, actions and
/// thresholds, the values planted in (or given to) the sandbox, the hosts expected to receive
/// pushes, and how to stop the sandbox when a rule's action says so. The Public Suffix List is
/// the process's own (`SuffixListCache`), parsed at first use.
public struct GuardDetection: Sendable {
    public var policy: DetectionPolicy
    public var planted: [PlantedValue]
    /// The agent's own origin and the policy's publish targets (exempt from rule 12).
    public var pushTargets: [DomainPattern]
    /// Called once, on the guard's thread, when a rule whose action is `stop` fires.
    public var stopSandbox: (@Sendable (String) -> Void)?

    /// Fails when the Public Suffix List cannot be read (detection would group names wrongly).
    public init(policy: DetectionPolicy, planted: [PlantedValue] = [], pushTargets: [DomainPattern] = [],
                stopSandbox: (@Sendable (String) -> Void)? = nil) throws(GuardError) {
        try SuffixListCache.shared.check()
        self.policy = policy
        self.planted = planted
        self.pushTargets = pushTargets
        self.stopSandbox = stopSandbox
    }

    /// A short, one-way name for a value: 12 hex digits. Enough to tell which value leaked; far
    /// too little to recover it. Keyed with the audit key (HMAC), so a reader of the audit log
    /// cannot test guesses for a weak secret against it; unkeyed only without a key (tests).
    public static func fingerprint(_ value: String, key: AuditKey? = nil) -> String {
        if let key { return String(key.mac("fingerprint", [value]).prefix(12)) }
        var hash = SHA256()
        hash.update(Array(value.utf8))
        return hash.finish().prefix(6).map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}

/// Debian's Public Suffix List, parsed once per process at its first use (a guard's first
/// name: ≈4 ms once), never on the launch path: `check` (when a sandbox is prepared) only makes
/// sure it can be read. Parsing it inline, or on a thread started at launch, added ≈7 ms to
/// every guarded `warden run` on two vCPUs.
final class SuffixListCache: Sendable {
    static let shared = SuffixListCache()
    private let parsed = Mutex<PublicSuffixList?>(nil)

    func check() throws(GuardError) {
        let path = PublicSuffixList.debianPath
        guard parsed.withLock({ $0 }) == nil, access(path, R_OK) != 0 else { return }
        throw GuardError(.invalid, "detection: the Public Suffix List \(path) cannot be read (Debian package publicsuffix): \(errnoDescription(errno))")
    }

    /// The list; an empty one (each name's last two labels) if it vanished since `check`.
    func list() -> PublicSuffixList {
        parsed.withLock { parsed in
            if let parsed { return parsed }
            let list = (try? Files.readText(PublicSuffixList.debianPath, limit: 8 << 20)).map { PublicSuffixList(text: $0) } ?? PublicSuffixList(text: "")
            parsed = list
            return list
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
