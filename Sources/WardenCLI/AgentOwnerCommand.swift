import Agent
import ArgumentParser
import Sandbox
import Glibc
import Store
import WardenSystem

/// `warden agent-owner ID`: the owner process of one agent, started by the supervisor (never
/// by hand; hidden from help). Root only: it reads the agent store and opens the secrets.
struct AgentOwnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-owner", abstract: "The owner process of one agent (started by `warden serve`).", shouldDisplay: false)

    @Option(name: .long, help: ArgumentHelp("Warden's home.", valueName: "dir")) var home: String
    @Option(name: .customLong("key-file"), help: ArgumentHelp("The secrets key file.", valueName: "path")) var keyFile: String
    @Argument(help: "The agent's id.") var id: String

    func run() throws {
        // First: signals meant for the agent wait instead of ending this process (see AgentOwner).
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&mask, signal) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        Host.hardenSelf()
        guard geteuid() == 0 else {
            printError("warden: agent-owner is started by the supervisor, as root")
            throw ExitCode(WardenExitCode.layerUnavailable)
        }
        guard AgentLayout.isValidID(id), home.hasPrefix("/"), keyFile.hasPrefix("/") else {
            throw ValidationError("agent-owner: expected an agent id and absolute --home and --key-file")
        }
        let owner: AgentOwner
        do { owner = try AgentOwner(id: id, home: home, keys: KeyFileProvider(path: keyFile, home: home)) } catch {
            printError("warden agent-owner \(id): \(error.message)")
            throw ExitCode(WardenExitCode.setupFailed)
        }
        throw ExitCode(owner.run())
    }
}
