import Glibc
import WardenSystem

/// A profile resolved for this sandbox and intersected with the baseline: for each syscall,
/// the argument region where it is allowed. Everything outside is a denial the supervisor
/// answers (and counts); `DenialResolver` says with which errno.
public struct FilterPlan: Sendable {
    public enum Fallback: Sendable, Equatable {
        /// Denials are sent to the supervisor (errno decided by `DenialResolver`).
        case notify
        /// The profile's default kills or traps; kept as is (not counted).
        case action(SeccompAction)
    }

    public let fallback: Fallback
    /// Allowed regions by syscall number. Syscalls absent here fall to `fallback`.
    public let allowed: [Int32: ArgumentRegion]
    /// Syscalls whose profile action is kill or trap, unconditionally.
    public let terminal: [Int32: SeccompAction]
    /// Profile rules that apply to this sandbox (after includes/excludes), for errno answers.
    public let resolvedRules: [ResolvedRule]
    public let profileDefault: SeccompAction
    /// Syscall names the profile mentions that this architecture does not have (ignored, as
    /// Docker does).
    public let unknownNames: [String]

    public struct ResolvedRule: Sendable {
        public let nr: Int32
        public let name: String
        public let action: SeccompAction
        public let region: ArgumentRegion
    }

    /// Number of libseccomp rules the plan emits.
    public var ruleCount: Int {
        allowed.values.reduce(0) { $0 + $1.conjunctions.count } + terminal.count
    }

    /// Facts about the sandbox that decide which conditional rules apply.
    public struct Context: Sendable {
        public var capabilities: Set<String>
        public var goArch: String
        public var kernel: (Int, Int)

        public init(capabilities: Set<String> = [], goArch: String, kernel: (Int, Int)) {
            self.capabilities = capabilities
            self.goArch = goArch
            self.kernel = kernel
        }

        public static var current: Context {
            Context(goArch: SyscallTable.nativeGoArch, kernel: Host.kernelVersion)
        }
    }

    /// Resolves `profile` for `context` and stacks the baseline on it.
    public static func build(profile: SeccompProfile, context: Context, source: String) throws(SandboxError) -> FilterPlan {
        try build(ResolvedProfile.resolve(profile, context: context, source: source), source: source)
    }

    /// Stacks the baseline on an already resolved profile.
    public static func build(_ resolvedProfile: ResolvedProfile, source: String) throws(SandboxError) -> FilterPlan {
        let profile = resolvedProfile.profile
        let resolved = resolvedProfile.rules
        let unknown = resolvedProfile.unknownNames
        let defaultAllows = !profile.defaultAction.denies
        let fallback: Fallback
        switch profile.defaultAction {
        case .killThread, .killProcess, .trap: fallback = .action(profile.defaultAction)
        default: fallback = .notify
        }

        var universe: [(Int32, String)] = []
        if defaultAllows {
            universe = SyscallTable.all
        } else {
            var seen = Set<Int32>()
            for rule in resolved where seen.insert(rule.nr).inserted { universe.append((rule.nr, rule.name)) }
        }
        let rulesByNumber = Dictionary(grouping: resolved, by: \.nr)

        var allowed: [Int32: ArgumentRegion] = [:]
        var terminal: [Int32: SeccompAction] = [:]
        for (nr, name) in universe {
            let rules = rulesByNumber[nr] ?? []
            var allow = defaultAllows ? ArgumentRegion.everything : .nothing
            var deny = ArgumentRegion.nothing
            for rule in rules {
                switch rule.action {
                case .allow, .log:
                    allow = allow.union(rule.region)
                case .errno, .trace:
                    deny = deny.union(rule.region)
                case .killThread, .killProcess, .trap:
                    guard rule.region.isEverything else {
                        throw .invalid("seccomp profile \(source): a conditional \(rule.action) rule for \(name) is not supported; use SCMP_ACT_ERRNO")
                    }
                    terminal[nr] = rule.action
                }
            }
            if terminal[nr] != nil { continue }
            do {
                if !deny.isNothing { allow = try allow.intersection(deny.complement()) }
                switch SeccompBaseline.constraint(for: name) {
                case .deny?: allow = .nothing
                case .restrict(let region)?: allow = try allow.intersection(region)
                case nil: break
                }
            } catch {
                throw .invalid("seccomp profile \(source): the rules for \(name) are too complex to compile")
            }
            if !allow.isNothing { allowed[nr] = allow }
        }
        // Baseline-denied syscalls whose profile action kills are still killed (stricter).
        return FilterPlan(fallback: fallback, allowed: allowed, terminal: terminal, resolvedRules: resolved,
                          profileDefault: profile.defaultAction, unknownNames: unknown)
    }

    /// The baseline alone, as its own filter: everything allowed except what it refuses.
    public static func baselineOnly(context: Context) throws(SandboxError) -> FilterPlan {
        try build(profile: SeccompProfile(defaultAction: .allow, rules: []), context: context, source: "baseline")
    }

    static func appliesInContext(_ rule: SeccompRule, _ context: Context) -> Bool {
        let includes = rule.includes, excludes = rule.excludes
        if !includes.caps.isEmpty && !includes.caps.allSatisfy({ context.capabilities.contains($0) }) { return false }
        if !includes.arches.isEmpty && !includes.arches.contains(context.goArch) { return false }
        if let minimum = includes.minKernel, !kernel(context.kernel, atLeast: minimum) { return false }
        if excludes.caps.contains(where: { context.capabilities.contains($0) }) { return false }
        if excludes.arches.contains(context.goArch) { return false }
        if let minimum = excludes.minKernel, kernel(context.kernel, atLeast: minimum) { return false }
        return true
    }

    static func kernel(_ running: (Int, Int), atLeast text: String) -> Bool {
        let wanted = Host.parseKernelVersion(text)
        return running.0 > wanted.0 || (running.0 == wanted.0 && running.1 >= wanted.1)
    }
}

/// Decides the errno the supervisor returns for a denied call, the same way the profile and
/// baseline would have: baseline first, then the profile's explicit deny rules in order, then
/// the profile's default.
public struct DenialResolver: Sendable {
    let profileDefault: SeccompAction
    let rulesByNumber: [Int32: [FilterPlan.ResolvedRule]]

    public init(profile: ResolvedProfile) {
        self.profileDefault = profile.profile.defaultAction
        self.rulesByNumber = Dictionary(grouping: profile.rules, by: \.nr)
    }

    public func errno(nr: Int32, arch: UInt32, args: [UInt64]) -> Int32 {
        guard arch == SyscallTable.nativeArch, let name = SyscallTable.name(of: nr) else { return EPERM }
        switch SeccompBaseline.constraint(for: name) {
        case .deny(let errno)?: return errno
        case .restrict(let region)? where !region.matches(args): return EPERM
        default: break
        }
        for rule in rulesByNumber[nr] ?? [] where rule.region.matches(args) {
            switch rule.action {
            case .errno(let code): return Int32(code)
            case .trace: return ENOSYS
            default: continue
            }
        }
        switch profileDefault {
        case .errno(let code): return Int32(code)
        case .trace: return ENOSYS
        default: return EPERM
        }
    }
}

/// A profile's rules that apply to this sandbox (includes/excludes evaluated against its empty
/// capability set, its architecture and kernel), with syscall numbers resolved. Cheap: no
/// region arithmetic, so the supervisor can rebuild it to answer denials.
public struct ResolvedProfile: Sendable {
    public let profile: SeccompProfile
    public let rules: [FilterPlan.ResolvedRule]
    public let unknownNames: [String]

    public static func resolve(_ profile: SeccompProfile, context: FilterPlan.Context, source: String) throws(SandboxError) -> ResolvedProfile {
        var resolved: [FilterPlan.ResolvedRule] = []
        var unknown: Set<String> = []
        for rule in profile.rules where FilterPlan.appliesInContext(rule, context) {
            let region: ArgumentRegion
            do {
                region = try ArgumentRegion.all(rule.conditions)
            } catch {
                throw .invalid("seccomp profile \(source): rule for \(rule.names.joined(separator: ",")) is too complex")
            }
            for name in rule.names {
                guard let nr = SyscallTable.number(of: name) else {
                    unknown.insert(name)
                    continue
                }
                resolved.append(FilterPlan.ResolvedRule(nr: nr, name: name, action: rule.action, region: region))
            }
        }
        return ResolvedProfile(profile: profile, rules: resolved, unknownNames: unknown.sorted())
    }
}
