import ArgumentParser
import FoundationEssentials
import Glibc
import Policy
import Sandbox
import Store
import WardenSystem

/// Options every policy command takes.
public struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Warden home (default: WARDEN_HOME, else /var/lib/warden for root).", valueName: "dir"))
    public var home: String?

    @Flag(name: .long, help: "Print the result as JSON.")
    public var json = false

    public init() {}
}

/// Exit statuses of `warden-admin`, listed in its help.
public enum AdminExitCode {
    public static let storeFailed: Int32 = 120
    public static let refused: Int32 = 123
    public static let invalidInput: Int32 = WardenExitCode.invalidInput

    public static let summary = """
        EXIT STATUS
          0    done (for validate: the file is valid; for diff: printed)
          120  the policy store could not be read or written (nothing was changed)
          123  refused by the policy: the caller may not make this change (recorded)
          125  invalid usage or input: unknown key, bad value, invalid file (nothing was changed)
        """
}

/// One command's view of the policy: the home, the store, the caller, the clock, and output.
struct AdminSession {
    let options: AdminOptions
    let service: PolicyService

    init(_ options: AdminOptions) throws {
        self.options = options
        let uid = getuid()
        let requested = options.home ?? Host.environment("WARDEN_HOME")
        let home = PolicyHome.resolve(requested: requested, uid: uid)
        if let explicit = options.home, !home.trusted {
            throw Self.invalid("--home \(explicit): a policy there would bind no one (it must be root's, and not writable by others, all the way up); without --home the system policy in \(PolicyHome.system) applies")
        }
        do {
            service = try PolicyService(home: home.path)
        } catch {
            throw AdminSession.fail(error)
        }
    }

    var now: Int64 { Int64(time(nil)) }

    func current() throws -> (version: Int, policy: OrgPolicy) {
        do { return try service.current() } catch { throw Self.fail(error) }
    }

    var caller: Principal {
        get throws { service.principal(in: try current().policy) }
    }

    /// Applies a change as the caller and reports it; refusals and bad input exit non-zero.
    func change(_ command: String, dryRun: Bool = false, _ transform: (inout OrgPolicy) throws(PolicyError) -> Void) throws {
        let result: PolicyService.ChangeResult
        do {
            result = try service.change(command, at: now, dryRun: dryRun, transform)
        } catch {
            throw Self.fail(error)
        }
        report(result, dryRun: dryRun)
    }

    func report(_ result: PolicyService.ChangeResult, dryRun: Bool) {
        if options.json {
            struct Output: Encodable { var version: Int; var applied: Bool; var dryRun: Bool; var changes: [SettingChange] }
            emit(Output(version: result.version, applied: result.applied, dryRun: dryRun, changes: result.changes))
            return
        }
        if result.changes.isEmpty {
            print("no change; version \(result.version) stays in force")
            return
        }
        print(dryRun ? "would change (version \(result.version) stays in force):" : "version \(result.version):")
        for change in result.changes { print("  " + Self.describe(change)) }
    }

    static func describe(_ change: SettingChange) -> String {
        switch (change.old, change.new) {
        case let (nil, new?): return "+ \(change.key): \(new)"
        case let (old?, nil): return "- \(change.key): \(old)"
        case let (old?, new?): return "  \(change.key): \(old) -> \(new)"
        default: return "  \(change.key)"
        }
    }

    func emit(_ value: some Encodable) { Self.emit(value) }

    /// Prints a value as sorted, indented JSON (the `--json` output of every command).
    static func emit(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
    }

    /// Prints the one-line reason and turns a store error into the documented exit status.
    static func fail(_ error: StoreError) -> ExitCode {
        printError("warden-admin: \(error.message)")
        switch error.code {
        case .refused: return ExitCode(AdminExitCode.refused)
        case .invalid, .notFound: return ExitCode(AdminExitCode.invalidInput)
        case .unavailable, .corrupt, .conflict, .newerSchema, .outdated: return ExitCode(AdminExitCode.storeFailed)
        }
    }

    static func invalid(_ message: String) -> ExitCode {
        printError("warden-admin: \(message)")
        return ExitCode(AdminExitCode.invalidInput)
    }

    /// The shipped policies directory (policies/), for presets and the default org.yaml.
    static func policyFile(_ relative: String) throws -> (text: String, path: String) {
        for directory in PolicyLocator.candidates() {
            let path = directory + "/" + relative
            if let text = try? Files.readText(path, limit: 1 << 20) { return (text, path) }
        }
        throw invalid("\(relative) was not found in the shipped policies; run `make install` or set WARDEN_POLICY_DIR")
    }
}
