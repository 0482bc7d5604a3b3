import ArgumentParser
import Glibc
import Sandbox
import WardenSystem

/// `warden`: the developer's command line.
public struct WardenCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "A security-first runtime for coding agents: every command sealed, every byte judged.",
        version: WardenVersion.current,
        subcommands: [RunCommand.self, DoctorCommand.self, AuditCommand.self, ServeCommand.self, AgentCommand.self, SecretsCommand.self, GCCommand.self,
                      AgentOwnerCommand.self])

    public init() {}

    /// Parses and runs; bad input gets one line on stderr and exit status 125.
    public static func entry(_ arguments: [String]) -> Never {
        if arguments.first == "run", let command = RunArgumentScanner.scan(Array(arguments.dropFirst())),
           let request = try? command.request(), let network = try? command.networkRequest() {
            Glibc.exit(RunExecution.execute(request, network: network))
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Glibc.exit(0)
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            let status = exitCode(for: error)
            if status == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            printError("warden: \(message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage") (see warden --help)")
            Glibc.exit(WardenExitCode.invalidInput)
        }
    }
}

public enum WardenVersion {
    public static let current = "0.1.0"
}
