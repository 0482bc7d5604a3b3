import ArgumentParser
import Policy
import Store
import WardenSystem

/// Reads a policy file, or exits 125 with file:line and what is expected.
enum PolicyFileInput {
    static func read(_ path: String) throws -> OrgPolicy {
        let text: String
        do { text = try Files.readText(path, limit: 1 << 20) } catch {
            throw AdminSession.invalid("\(path): \(error.reason)")
        }
        do { return try PolicyFileReader.read(text, file: path) } catch {
            throw AdminSession.invalid(error.description)
        }
    }
}

/// `warden-admin validate FILE`.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check a policy file against the schema; changes nothing.",
                                                    discussion: AdminExitCode.summary)
    @OptionGroup var options: AdminOptions
    @Argument(help: "Policy file (YAML).") var file: String

    func run() throws {
        let policy = try PolicyFileInput.read(file)
        if options.json {
            struct Output: Encodable { var file: String; var valid: Bool; var users: Int; var rules: Int }
            AdminSession.emit(Output(file: file, valid: true, users: policy.users.count, rules: policy.network.rules.count))
        } else {
            print("\(file): valid (\(policy.users.count) users, \(policy.network.rules.count) network rules)")
        }
    }
}

/// `warden-admin apply FILE [--dry-run]`.
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Make a policy file the policy in force (shows the diff); all or nothing.",
                                                    discussion: AdminExitCode.summary)
    @OptionGroup var options: AdminOptions
    @Argument(help: "Policy file (YAML).") var file: String
    @Flag(name: .long, help: "Show what would change; write nothing.") var dryRun = false

    func run() throws {
        let policy = try PolicyFileInput.read(file)
        try AdminSession(options).change("apply \(file)", dryRun: dryRun) { current throws(PolicyError) in current = policy }
    }
}

/// `warden-admin rollback V`: a new version equal to version V (history keeps everything).
struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Put an earlier version back in force, as a new version (0: the built-in policy).")
    @OptionGroup var options: AdminOptions
    @Argument(help: "The version to restore.") var version: Int
    @Flag(name: .long, help: "Show what would change; write nothing.") var dryRun = false

    func run() throws {
        let session = try AdminSession(options)
        let target = try Versions.policy(version, session)
        try session.change("rollback \(version)", dryRun: dryRun) { current throws(PolicyError) in current = target }
    }
}

