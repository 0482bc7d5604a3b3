import Policy
import Synchronization
import WardenSystem

/// What a guard's detection is given for one sandbox: the policy's rules, actions and
/// thresholds, the values planted in (or given to) the sandbox, the hosts expected to receive
/// pushes, the Public Suffix List, and how to stop the sandbox when a rule's action says so.
public struct GuardDetection: Sendable {
    public var policy: DetectionPolicy
    public var planted: [PlantedValue]
    /// The agent's own origin and the policy's publish targets (exempt from rule 12).
    public var pushTargets: [DomainPattern]
    public var suffixes: PublicSuffixList
    /// Called once, on the guard's thread, when a rule whose action is `stop` fires.
    public var stopSandbox: (@Sendable (String) -> Void)?

    public init(policy: DetectionPolicy, planted: [PlantedValue] = [], pushTargets: [DomainPattern] = [], suffixes: PublicSuffixList,
                stopSandbox: (@Sendable (String) -> Void)? = nil) {
        self.policy = policy
        self.planted = planted
        self.pushTargets = pushTargets
        self.suffixes = suffixes
        self.stopSandbox = stopSandbox
    }

    /// The list from Debian's `publicsuffix`, read once per process (every guard shares it).
    public static func loadSuffixes() throws(GuardError) -> PublicSuffixList {
        try SuffixListCache.shared.list()
    }

    /// A short, one-way name for a value: the first 12 hex digits of its SHA-256. Enough to
    /// tell which value leaked; far too little to recover it.
    public static func fingerprint(_ value: String) -> String {
        var hash = SHA256()
        hash.update(Array(value.utf8))
        return hash.finish().prefix(6).map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}

/// The Public Suffix List, parsed on first use and kept.
final class SuffixListCache: Sendable {
    static let shared = SuffixListCache()
    private let state = Mutex<PublicSuffixList?>(nil)

    func list() throws(GuardError) -> PublicSuffixList {
        if let cached = state.withLock({ $0 }) { return cached }
        let text: String
        do {
            text = try Files.readText(PublicSuffixList.debianPath, limit: 8 << 20)
        } catch {
            throw GuardError(.invalid, "detection: the Public Suffix List \(PublicSuffixList.debianPath) cannot be read (Debian package publicsuffix): \(error.description)")
        }
        let list = PublicSuffixList(text: text)
        state.withLock { $0 = list }
        return list
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
