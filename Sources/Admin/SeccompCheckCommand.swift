import ArgumentParser
import FoundationEssentials
import Sandbox
import WardenSystem

/// `warden-admin seccomp check FILE`: parses a profile in the OCI/Docker format, stacks
/// Warden's baseline on it and reports what a sandbox would actually get: what the baseline
/// refuses or narrows that the profile allowed, names this architecture does not have, and
/// the compiled size.
public struct SeccompCheckCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a seccomp profile and show the effect of Warden's baseline on it.")

    @Argument(help: ArgumentHelp("Profile file (OCI/Docker format).", valueName: "file"))
    public var file: String

    @Flag(name: .long, help: "Print the report as JSON.")
    public var json = false

    public init() {}

    public struct Report: Codable, Sendable {
        public var file: String
        public var sha256: String
        public var defaultAction: String
        public var allowedSyscalls: Int
        public var refusedByBaseline: [String]
        public var narrowedByBaseline: [String]
        public var ignoredSyscalls: [String]
        public var rules: Int
        public var instructions: Int
        public var baselineVersion: Int
    }

    public func run() throws {
        let report: Report
        do throws(SandboxError) {
            report = try Self.report(file: file)
        } catch {
            printError("warden-admin: \(error.message)")
            throw ExitCode(WardenExitCode.code(for: error))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("\(report.file): valid (sha256 \(report.sha256.prefix(16)))")
        print("  default action: \(report.defaultAction)")
        print("  syscalls allowed after the baseline: \(report.allowedSyscalls)")
        print("  refused by the baseline although the profile allows them: \(list(report.refusedByBaseline))")
        print("  narrowed by the baseline (argument rules): \(list(report.narrowedByBaseline))")
        print("  names this architecture does not have (ignored): \(list(report.ignoredSyscalls))")
        print("  compiled: \(report.rules) rules, \(report.instructions) BPF instructions (baseline v\(report.baselineVersion))")
    }

    private func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }

    public static func report(file: String) throws(SandboxError) -> Report {
        let bytes: [UInt8]
        do { bytes = try Files.read(file, limit: 4 << 20) } catch { throw .invalid("\(file): \(error.reason)") }
        let profile = try SeccompProfile.parse(bytes, source: file)
        let context = FilterPlan.Context.current
        let resolved = try ResolvedProfile.resolve(profile, context: context, source: file)
        let plan = try FilterPlan.build(resolved, source: file)
        let compiled = try FilterCompiler.compile(plan)
        var refused = Set<String>(), narrowed = Set<String>()
        for rule in resolved.rules where !rule.action.denies {
            switch SeccompBaseline.constraint(for: rule.name) {
            case .deny?: refused.insert(rule.name)
            case .restrict?: narrowed.insert(rule.name)
            case nil: break
            }
        }
        if !profile.defaultAction.denies {
            for (_, name) in SyscallTable.all {
                switch SeccompBaseline.constraint(for: name) {
                case .deny?: refused.insert(name)
                case .restrict?: narrowed.insert(name)
                case nil: break
                }
            }
        }
        return Report(file: file, sha256: SHA256.hex(bytes), defaultAction: profile.defaultAction.description,
                      allowedSyscalls: plan.allowed.count, refusedByBaseline: refused.sorted(), narrowedByBaseline: narrowed.sorted(),
                      ignoredSyscalls: resolved.unknownNames, rules: compiled.ruleCount, instructions: compiled.instructions.count,
                      baselineVersion: SeccompBaseline.version)
    }
}
