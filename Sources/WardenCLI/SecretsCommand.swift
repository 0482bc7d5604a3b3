import Agent
import ArgumentParser
import Glibc
import WardenSystem

/// `warden secrets`: secrets for agents, kept by the supervisor (R18). Values are read from
/// standard input and travel only over the supervisor's socket: never an argument, never in
/// a process listing.
struct SecretsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Secrets given to agents: stored encrypted, each bound to the hosts it may be sent to.",
        discussion: """
            Talks to the supervisor (`warden serve`) at WARDEN_SOCKET or \(SupervisorClient.systemSocket). \
            Exit status: 0 done; 1 no such secret; 69 no supervisor; 123 refused by the policy; 125 bad input.
            """,
        subcommands: [SecretsSetCommand.self, SecretsListCommand.self, SecretsRemoveCommand.self])
}

struct SecretScopeOptions: ParsableArguments {
    @Option(name: .customLong("repo"), help: ArgumentHelp("Only agents on this repository get it.", valueName: "url-or-path"))
    var repository: String?

    @Flag(name: .customLong("org"), help: "An organisation secret (admins only) instead of your own.")
    var organisation = false

    @OptionGroup var socket: SupervisorSocketOption

    var socketPath: String { socket.path }

    func arguments(_ extra: [String: String]) -> [String: String] {
        var arguments = extra
        arguments["scope"] = organisation ? "org" : "user"
        if let repository { arguments["repository"] = repository }
        return arguments
    }
}

/// What a command reads from its standard input (a secret's value, a prompt).
enum StandardInput {
    /// Up to `limit` bytes (a caller that needs to know the input was longer asks for one more).
    static func read(limit: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while bytes.count < limit {
            let n = Glibc.read(0, &buffer, min(buffer.count, limit - bytes.count))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    /// The text of a file, or of standard input for "-": refused when it is not UTF-8 or is
    /// longer than `limit` bytes.
    static func text(of path: String, limit: Int, what: String) throws -> String {
        let bytes: [UInt8]
        if path == "-" {
            bytes = read(limit: limit + 1)
        } else {
            do { bytes = try Files.read(path, limit: limit + 1) } catch { throw ValidationError("\(what) \(path): \(error.reason)") }
        }
        guard bytes.count <= limit else { throw ValidationError("\(what) \(path == "-" ? "on standard input" : path) is larger than \(limit >> 10) KiB") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ValidationError("\(what) \(path == "-" ? "on standard input" : path) is not UTF-8 text") }
        return text
    }
}

/// Prints the supervisor's answer and exits with its status.
enum SupervisorAnswer {
    static func finish(_ response: SupervisorResponse) throws {
        if !response.output.isEmpty { print(stripTerminalControls(response.output), terminator: "") }
        if !response.error.isEmpty { printError(stripTerminalControls(response.error).trimmingWhitespace()) }
        if response.status != 0 { throw ExitCode(response.status) }
    }
}

struct SecretsSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Store a secret; its value is read from standard input (one trailing newline is dropped).")

    @Argument(help: "The name agents see it as (an environment variable name).") var name: String
    @Option(name: .long, help: ArgumentHelp("Hosts it may be sent to, comma-separated (domains or *.domain); none: no host.", valueName: "hosts"))
    var hosts: String?
    @OptionGroup var scope: SecretScopeOptions

    func run() throws {
        var bytes = StandardInput.read(limit: SecretsService.maxValueBytes + 2)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard let value = String(validating: bytes, as: UTF8.self) else { throw ValidationError("the value on standard input is not UTF-8 text") }
        var arguments = scope.arguments(["name": name])
        if let hosts { arguments["hosts"] = hosts }
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "secrets.set", arguments: arguments, input: value),
                                                          socketPath: scope.socketPath))
    }
}

struct SecretsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Your secrets and the organisation's: names, scope, hosts; never values.")

    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "secrets.list", arguments: json ? ["json": "true"] : [:]),
                                                          socketPath: socket.path))
    }
}

struct SecretsRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a secret.")

    @Argument(help: "The secret's name.") var name: String
    @OptionGroup var scope: SecretScopeOptions

    func run() throws {
        try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "secrets.remove", arguments: scope.arguments(["name": name])),
                                                          socketPath: scope.socketPath))
    }
}
