import Glibc
import Policy
import Synchronization
import WardenSystem

/// What a guard's detection is given for one sandbox: the policy's rules, actions and
/// thresholds, the values planted in (or given to) the sandbox, the hosts expected to receive
/// pushes, and how to stop the sandbox when a rule's action says so. The Public Suffix List is
/// the process's own (`SuffixListCache`), parsed off the launch path.
public struct GuardDetection: Sendable {
    public var policy: DetectionPolicy
    public var planted: [PlantedValue]
    /// The agent's own origin and the policy's publish targets (exempt from rule 12).
    public var pushTargets: [DomainPattern]
    /// Called once, on the guard's thread, when a rule whose action is `stop` fires.
    public var stopSandbox: (@Sendable (String) -> Void)?

    /// Fails when the Public Suffix List cannot be read (detection would group names wrongly),
    /// and starts parsing it in the background for the guard's first use.
    public init(policy: DetectionPolicy, planted: [PlantedValue] = [], pushTargets: [DomainPattern] = [],
                stopSandbox: (@Sendable (String) -> Void)? = nil) throws(GuardError) {
        try SuffixListCache.shared.start()
        self.policy = policy
        self.planted = planted
        self.pushTargets = pushTargets
        self.stopSandbox = stopSandbox
    }

    /// A short, one-way name for a value: the first 12 hex digits of its SHA-256. Enough to
    /// tell which value leaked; far too little to recover it.
    public static func fingerprint(_ value: String) -> String {
        var hash = SHA256()
        hash.update(Array(value.utf8))
        return hash.finish().prefix(6).map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}

/// Debian's Public Suffix List, parsed once per process on its own thread: `start` (when a
/// sandbox is prepared) checks it can be read and begins; `list` (a guard's first name) waits
/// for it. Parsing its 10,000 lines took ≈8 ms of every guarded launch when done inline.
final class SuffixListCache: Sendable {
    static let shared = SuffixListCache()

    private enum State: Sendable {
        case idle
        case parsing(BackgroundWork<PublicSuffixList?>)
        case ready(PublicSuffixList)
    }

    private let state = Mutex<State>(.idle)

    func start() throws(GuardError) {
        let path = PublicSuffixList.debianPath
        let failure: GuardError? = state.withLock { state -> GuardError? in
            guard case .idle = state else { return nil }
            guard access(path, R_OK) == 0 else {
                return GuardError(.invalid, "detection: the Public Suffix List \(path) cannot be read (Debian package publicsuffix): \(errnoDescription(errno))")
            }
            let parse = { () -> PublicSuffixList? in
                (try? Files.readText(path, limit: 8 << 20)).map { PublicSuffixList(text: $0) }
            }
            state = BackgroundWork.onOwnThread(parse).map { .parsing($0) } ?? .ready(parse() ?? PublicSuffixList(text: ""))
            return nil
        }
        if let failure { throw failure }
    }

    /// The list; an empty one (each name's last two labels) if it vanished after `start`.
    func list() -> PublicSuffixList {
        state.withLock { state in
            switch state {
            case .ready(let list):
                return list
            case .parsing(let work):
                let list = work.wait() ?? PublicSuffixList(text: "")
                state = .ready(list)
                return list
            case .idle:
                let list = (try? Files.readText(PublicSuffixList.debianPath, limit: 8 << 20)).map { PublicSuffixList(text: $0) } ?? PublicSuffixList(text: "")
                state = .ready(list)
                return list
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
