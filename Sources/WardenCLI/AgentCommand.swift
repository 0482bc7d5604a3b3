import Agent
import ArgumentParser
import Glibc
import WardenSystem

/// `warden agent`: background agents, through the supervisor. (Starting agents follows; these
/// read what the supervisor keeps.)
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Background agents kept by the supervisor: list and show them.",
        discussion: """
            Talks to the supervisor (`warden serve`) at WARDEN_SOCKET or \(SupervisorClient.systemSocket). \
            You see your own agents, and others' as the policy's visibility settings allow. Exit \
            status: 0 done; 1 no such agent; 69 no supervisor; 123 refused by the policy; 125 bad input.
            """,
        subcommands: [AgentListCommand.self, AgentShowCommand.self])
}

struct SupervisorSocketOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The supervisor's socket.", valueName: "path"))
    var socket: String?

    var path: String { socket ?? Host.environment("WARDEN_SOCKET") ?? SupervisorClient.systemSocket }
}

struct AgentListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Agents you may see, newest first.")

    @Flag(name: .long, help: "Include agents that have ended.") var all = false
    @Option(name: .long, help: ArgumentHelp("Only agents in this state.", valueName: "state")) var state: String?
    @Option(name: .long, help: ArgumentHelp("Match id, name, repository or branch.", valueName: "text")) var search: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        var arguments: [String: String] = [:]
        if all { arguments["all"] = "true" }
        if let state { arguments["state"] = state }
        if let search { arguments["search"] = search }
        if json { arguments["json"] = "true" }
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.list", arguments: arguments), socketPath: socket.path))
    }
}

struct AgentShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One agent: state, branch, privacy, history.")

    @Argument(help: "The agent's id.") var id: String
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        var arguments = ["id": id]
        if json { arguments["json"] = "true" }
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.show", arguments: arguments), socketPath: socket.path))
    }
}
