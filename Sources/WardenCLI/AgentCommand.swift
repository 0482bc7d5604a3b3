import Agent
import ArgumentParser
import FoundationEssentials
import Glibc
import WardenSystem

/// `warden agent`: background agents, through the supervisor.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Background agents: start them on a repository, follow, message and stop them.",
        discussion: """
            Talks to the supervisor (`warden serve`) at WARDEN_SOCKET or \(SupervisorClient.systemSocket). \
            You see your own agents, and others' as the policy's visibility settings allow. Exit \
            status: 0 done; 1 no such agent (or it has ended); 69 no supervisor; 75 not started: Warden's \
            disk is under the policy's watermark; 122 the supervisor's store failed; 123 refused by the \
            policy; 125 bad input.
            """,
        subcommands: [AgentStartCommand.self, AgentListCommand.self, AgentShowCommand.self, AgentLogsCommand.self,
                      AgentFollowUpCommand.self, AgentAttachCommand.self, AgentTerminalsCommand.self, AgentPortsCommand.self,
                      AgentStopCommand.self])
}

struct AgentStartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start an agent on a repository; prints its id and returns at once.",
        discussion: """
            The supervisor clones the repository as you, creates the branch warden/NAME-OR-ID from the base \
            branch, and runs the agent program sealed in a sandbox with the network guard, under the \
            organisation's policy as it is now (your privacy mode is locked for the agent's life). When the \
            program ends, what it left uncommitted is committed inside the sandbox and the branch is pushed \
            to the repository. Defaults for the repository, base branch, model and agent program come from \
            the policy. The prompt travels over the supervisor's socket, never in an argument list.
            """)

    @Option(name: .customLong("repo"), help: ArgumentHelp("Repository: a local path or a git URL (default: the policy's).", valueName: "url-or-path"))
    var repository: String?
    @Option(name: .long, help: ArgumentHelp("Base branch (default: the policy's).", valueName: "branch")) var branch: String?
    @Option(name: .long, help: ArgumentHelp("The prompt.", valueName: "text")) var prompt: String?
    @Option(name: .customLong("prompt-file"), help: ArgumentHelp("Read the prompt from a file (- for standard input).", valueName: "file"))
    var promptFile: String?
    @Option(name: .long, help: ArgumentHelp("Model (default: the policy's).", valueName: "model")) var model: String?
    @Option(name: .long, help: ArgumentHelp("A name: the branch becomes warden/NAME.", valueName: "name")) var name: String?
    @OptionGroup var socket: SupervisorSocketOption
    @Option(name: .long, parsing: .remaining, help: ArgumentHelp("The agent program and its arguments, last (default: the policy's).", valueName: "program"))
    var command: [String] = []

    func validate() throws {
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt TEXT and --prompt-file FILE") }
    }

    func run() throws {
        let text = try prompt ?? StandardInput.text(of: promptFile ?? "-", limit: AgentStartService.maxPromptBytes, what: "--prompt-file")
        var arguments: [String: String] = [:]
        if let repository {
            // A local path is sent absolute: the supervisor does not share this directory.
            if AgentWorkspace.isRemote(repository) || repository.hasPrefix("/") {
                arguments["repository"] = repository
            } else {
                do { arguments["repository"] = try Files.canonicalPath(repository) } catch {
                    throw ValidationError("--repo \(repository): \(error.reason)")
                }
            }
        }
        if let branch { arguments["branch"] = branch }
        if let model { arguments["model"] = model }
        if let name { arguments["name"] = name }
        if !command.isEmpty {
            guard let data = try? JSONEncoder().encode(command) else { throw ValidationError("--command cannot be encoded") }
            arguments["command"] = String(decoding: data, as: UTF8.self)
        }
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.start", arguments: arguments, input: text),
                                                          socketPath: socket.path))
    }
}

struct AgentLogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "An agent's output (secrets redacted, terminal controls removed).")

    @Argument(help: "The agent's id.") var id: String
    @Flag(name: [.short, .long], help: "Keep printing new output until the agent ends.") var follow = false
    @OptionGroup var socket: SupervisorSocketOption

    /// How long `--follow` waits between looks when nothing new came.
    static let pollMicroseconds: UInt32 = 250_000

    func run() throws {
        var offset: Int64 = 0
        // Bounded: a day of following at the slowest pace.
        for _ in 0..<(follow ? 345_600 : 1) {
            let response = try SupervisorClient.send(SupervisorRequest(operation: "agent.logs", arguments: ["id": id, "offset": String(offset)]),
                                                     socketPath: socket.path)
            guard response.status == 0 else { return try SupervisorAnswer.finish(response) }
            if !response.output.isEmpty { print(stripTerminalControls(response.output), terminator: "") }
            if !response.error.isEmpty && offset == 0 { printError(stripTerminalControls(response.error).trimmingWhitespace()) }
            fflush(nil)
            let next = response.info?["offset"].flatMap { Int64($0) } ?? offset
            let more = response.info?["more"] == "true"
            let ended = response.info?["ended"] == "true"
            offset = next
            if more { continue }
            if !follow { return }
            if ended {
                printError("warden: agent \(id) \(response.info?["state"] ?? "ended")")
                return
            }
            usleep(Self.pollMicroseconds)
        }
    }
}

struct AgentFollowUpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow-up",
        abstract: "Send a follow-up message to a running agent (- reads it from standard input).",
        discussion: "The agent finds it as the next numbered file in its follow-ups directory and gets SIGUSR1.")

    @Argument(help: "The agent's id.") var id: String
    @Argument(help: "The message, or - for standard input.") var text: String
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        let message = text == "-" ? try StandardInput.text(of: "-", limit: AgentControlService.maxFollowUpBytes, what: "the follow-up") : text
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.follow-up", arguments: ["id": id], input: message),
                                                          socketPath: socket.path))
    }
}

struct AgentStopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop an agent: its program gets SIGTERM, then its work is committed and pushed.")

    @Argument(help: "The agent's id.") var id: String
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.stop", arguments: ["id": id]), socketPath: socket.path))
    }
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
