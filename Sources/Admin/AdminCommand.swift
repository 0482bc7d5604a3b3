import ArgumentParser
import Glibc
import Sandbox
import WardenSystem

/// `warden-admin`: the administrator's command line. Organisation policy arrives with the
/// policy store; today it checks the seccomp profiles admins hand to `warden run --seccomp`.
public struct AdminCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "warden-admin",
        abstract: "Administer Warden: policies and the profiles sandboxes run under.",
        version: "0.1.0",
        subcommands: [SeccompCommand.self])

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
