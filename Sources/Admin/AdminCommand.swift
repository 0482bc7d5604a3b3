import ArgumentParser
import Glibc
import Sandbox
import WardenSystem

/// `warden-admin`: the administrator's command line: the organisation's policy (users,
/// privacy, retention, follow-ups, summaries, defaults, network and sandbox settings), its
/// history, explanations of its decisions, and seccomp profile checks.
public struct AdminCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "warden-admin",
        abstract: "Administer Warden: the organisation's policy and the profiles sandboxes run under.",
        discussion: """
            Identity is the calling OS user: root and the owner of the Warden home are admins; other uids are \
            the users the policy lists (member, auditor, admin). Members may read; only admins change \
            settings (members may set their own privacy mode unless it is enforced). A refused change \
            prints why, changes nothing and is recorded.

            """ + AdminExitCode.summary,
        version: "0.1.0",
        subcommands: [
            ShowCommand.self, GetCommand.self, SetCommand.self, UsersCommand.self, AllowlistCommand.self, NetworkCommand.self,
            PrivacyCommand.self, RetentionCommand.self, FollowupsCommand.self, SummaryCommand.self, DefaultsCommand.self,
            ValidateCommand.self, ApplyCommand.self, ExportCommand.self, HistoryCommand.self, DiffCommand.self, RollbackCommand.self,
            ExplainCommand.self, DecisionsCommand.self, SeccompCommand.self,
        ])

    public init() {}

    /// Parses and runs; bad input gets one line on stderr and exit status 125.
    public static func entry(_ arguments: [String]) -> Never {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Glibc.exit(0)
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            printError("warden-admin: \(message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage") (see warden-admin --help)")
            Glibc.exit(WardenExitCode.invalidInput)
        }
    }
}

public struct SeccompCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "seccomp",
        abstract: "Inspect seccomp profiles.",
        subcommands: [SeccompCheckCommand.self])

    public init() {}
}
