import FoundationEssentials

/// A seccomp profile in the OCI / Docker format (`defaultAction`, `architectures`/`archMap`,
/// `syscalls` with `names`, `action`, `errnoRet`, `args`, `includes`/`excludes`), so that a
/// user's existing Docker profile works unchanged with `warden run --seccomp`.
public struct SeccompProfile: Sendable, Equatable {
    public var defaultAction: SeccompAction
    public var architectures: [String]
    public var rules: [SeccompRule]
    public var flags: [String]

    public init(defaultAction: SeccompAction, architectures: [String] = [], rules: [SeccompRule], flags: [String] = []) {
        self.defaultAction = defaultAction
        self.architectures = architectures
        self.rules = rules
        self.flags = flags
    }
}

/// What the filter does with a matching call.
public enum SeccompAction: Sendable, Equatable, CustomStringConvertible {
    case allow
    case log
    case errno(UInt16)
    case trace(UInt16)
    case trap
    case killThread
    case killProcess

    /// True for actions that refuse the call.
    public var denies: Bool {
        switch self {
        case .allow, .log: return false
        default: return true
        }
    }

    public var description: String {
        switch self {
        case .allow: return "SCMP_ACT_ALLOW"
        case .log: return "SCMP_ACT_LOG"
        case .errno(let code): return "SCMP_ACT_ERRNO(\(code))"
        case .trace(let code): return "SCMP_ACT_TRACE(\(code))"
        case .trap: return "SCMP_ACT_TRAP"
        case .killThread: return "SCMP_ACT_KILL_THREAD"
        case .killProcess: return "SCMP_ACT_KILL_PROCESS"
        }
    }
}

/// One rule of a profile: the syscalls it names, its action, its argument conditions (all must
/// hold) and the conditions on the sandbox under which the rule is part of the profile.
public struct SeccompRule: Sendable, Equatable {
    public var names: [String]
    public var action: SeccompAction
    public var conditions: [ArgumentCondition]
    public var includes: RuleScope
    public var excludes: RuleScope

    public init(names: [String], action: SeccompAction, conditions: [ArgumentCondition] = [],
                includes: RuleScope = RuleScope(), excludes: RuleScope = RuleScope()) {
        self.names = names
        self.action = action
        self.conditions = conditions
        self.includes = includes
        self.excludes = excludes
    }
}

/// `includes` / `excludes`: capabilities, architectures (Go names such as "amd64") and a
/// minimum kernel version.
public struct RuleScope: Sendable, Equatable {
    public var caps: [String] = []
    public var arches: [String] = []
    public var minKernel: String?

    public init(caps: [String] = [], arches: [String] = [], minKernel: String? = nil) {
        self.caps = caps
        self.arches = arches
        self.minKernel = minKernel
    }

    public var isEmpty: Bool { caps.isEmpty && arches.isEmpty && minKernel == nil }
}

// MARK: - Decoding

extension SeccompProfile {
    /// Parses a profile, rejecting anything Warden would otherwise have to guess about.
    public static func parse(_ bytes: [UInt8], source: String) throws(SandboxError) -> SeccompProfile {
        let document: ProfileDocument
        do {
            document = try JSONDecoder().decode(ProfileDocument.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .invalid("seccomp profile \(source): \(describe(error))")
        } catch {
            throw .invalid("seccomp profile \(source): not valid JSON")
        }
        return try document.profile(source: source)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "" : " at \(keys.hasPrefix(".") ? String(keys.dropFirst()) : keys)"
        }
        switch error {
        case .dataCorrupted(let context): return "not valid JSON\(path(context))"
        case .keyNotFound(let key, let context): return "missing \"\(key.stringValue)\"\(path(context))"
        case .typeMismatch(_, let context): return "wrong type\(path(context))"
        case .valueNotFound(_, let context): return "missing value\(path(context))"
        @unknown default: return "not a valid profile"
        }
    }
}

private struct ProfileDocument: Decodable {
    var defaultAction: String
    var defaultErrnoRet: UInt32?
    var architectures: [String]?
    var archMap: [ArchMapEntry]?
    var syscalls: [RuleDocument]?
    var flags: [String]?
    var listenerPath: String?

    struct ArchMapEntry: Decodable {
        var architecture: String
        var subArchitectures: [String]?
    }

    func profile(source: String) throws(SandboxError) -> SeccompProfile {
        if let listener = listenerPath, !listener.isEmpty {
            throw .invalid("seccomp profile \(source): listenerPath is not supported (Warden answers notifications itself)")
        }
        let action = try parseAction(defaultAction, errno: defaultErrnoRet, context: "defaultAction", source: source)
        var arches = architectures ?? []
        for entry in archMap ?? [] {
            arches.append(entry.architecture)
            arches.append(contentsOf: entry.subArchitectures ?? [])
        }
        var rules: [SeccompRule] = []
        for (index, rule) in (syscalls ?? []).enumerated() {
            rules.append(try rule.rule(index: index, source: source))
        }
        return SeccompProfile(defaultAction: action, architectures: arches, rules: rules, flags: flags ?? [])
    }
}

private struct RuleDocument: Decodable {
    var names: [String]?
    var name: String?
    var action: String
    var errnoRet: UInt32?
    var args: [ArgDocument]?
    var includes: ScopeDocument?
    var excludes: ScopeDocument?

    struct ArgDocument: Decodable {
        var index: UInt32
        var value: UInt64
        var valueTwo: UInt64?
        var op: String
    }

    struct ScopeDocument: Decodable {
        var caps: [String]?
        var arches: [String]?
        var minKernel: String?
    }

    func rule(index: Int, source: String) throws(SandboxError) -> SeccompRule {
        var allNames = names ?? []
        if let name { allNames.append(name) }
        let context = "syscalls[\(index)]"
        guard !allNames.isEmpty else { throw .invalid("seccomp profile \(source): \(context) names no syscall") }
        let action = try parseAction(self.action, errno: errnoRet, context: "\(context).action", source: source)
        var conditions: [ArgumentCondition] = []
        for (argIndex, arg) in (args ?? []).enumerated() {
            guard arg.index <= 5 else {
                throw .invalid("seccomp profile \(source): \(context).args[\(argIndex)].index must be 0...5")
            }
            guard let op = ArgumentCondition.Operator(ociName: arg.op) else {
                throw .invalid("seccomp profile \(source): \(context).args[\(argIndex)].op \"\(arg.op)\" is unknown")
            }
            conditions.append(ArgumentCondition(index: Int(arg.index), op: op, value: arg.value, valueTwo: arg.valueTwo ?? 0))
        }
        func scope(_ document: ScopeDocument?) -> RuleScope {
            RuleScope(caps: document?.caps ?? [], arches: document?.arches ?? [], minKernel: document?.minKernel)
        }
        return SeccompRule(names: allNames, action: action, conditions: conditions,
                           includes: scope(includes), excludes: scope(excludes))
    }
}

private func parseAction(_ name: String, errno: UInt32?, context: String, source: String) throws(SandboxError) -> SeccompAction {
    switch name {
    case "SCMP_ACT_ALLOW": return .allow
    case "SCMP_ACT_LOG": return .log
    case "SCMP_ACT_ERRNO": return .errno(UInt16(truncatingIfNeeded: errno ?? 1))
    case "SCMP_ACT_TRACE": return .trace(UInt16(truncatingIfNeeded: errno ?? 1))
    case "SCMP_ACT_TRAP": return .trap
    case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return .killThread
    case "SCMP_ACT_KILL_PROCESS": return .killProcess
    case "SCMP_ACT_NOTIFY":
        throw .invalid("seccomp profile \(source): \(context) SCMP_ACT_NOTIFY is not supported (Warden owns the notification listener)")
    default:
        throw .invalid("seccomp profile \(source): \(context) \"\(name)\" is not a seccomp action")
    }
}
