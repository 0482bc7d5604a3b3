import Agent
import ArgumentParser
import Glibc
import Sandbox
import WardenSystem

/// The caller's terminal, described for a shell started inside the sandbox.
enum CallerTerminal {
    static func arguments(_ base: [String: String]) -> [String: String] {
        var arguments = base
        if let term = Host.environment("TERM") { arguments["term"] = term }
        if let size = TerminalInfo.windowSize(0) ?? TerminalInfo.windowSize(1), size.ws_row > 0, size.ws_col > 0 {
            arguments["rows"] = String(size.ws_row)
            arguments["columns"] = String(size.ws_col)
        }
        return arguments
    }

    /// Relays the terminal the supervisor passed back; its exit is the session's end.
    static func take(_ response: SupervisorResponse) throws {
        guard response.status == 0 else { return try SupervisorAnswer.finish(response) }
        guard let master = response.descriptor?.descriptor else {
            printError("warden: the supervisor sent no terminal")
            throw ExitCode(70)
        }
        TerminalSession.relay(master: master)
    }
}

struct AgentAttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Take over a running agent: a shell inside its sandbox, on its own terminal.",
        discussion: """
            The shell is forked by the sandbox's init, so it is inside every layer the agent is (same \
            filesystem view, Landlock domain, seccomp filter, network guard and user id); no process of \
            yours enters the sandbox. Your terminal is relayed like `ssh -t`. Only the agent's owner and \
            admins may attach; each attach is recorded. The shell ends with the agent.
            """)

    @Argument(help: "The agent's id.") var id: String
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        try CallerTerminal.take(SupervisorClient.send(
            SupervisorRequest(operation: "agent.attach", arguments: CallerTerminal.arguments(["id": id])), socketPath: socket.path))
    }
}

struct AgentTerminalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminals",
        abstract: "List a running agent's terminals, or join one (its tmux session, inside the sandbox).",
        discussion: """
            The environment's `terminals` run in tmux sessions inside the sandbox, shared by you and the \
            agent. Joining runs the tmux client inside the sandbox too, on a terminal Warden relays: a \
            tmux command such as `detach-client -E` runs there, never on your machine.
            """)

    @Argument(help: "The agent's id.") var id: String
    @Argument(help: "A terminal to join (none: list them).") var name: String?
    @OptionGroup var socket: SupervisorSocketOption

    func run() throws {
        guard let name else {
            return try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.terminals", arguments: ["id": id]),
                                                                     socketPath: socket.path))
        }
        try CallerTerminal.take(SupervisorClient.send(
            SupervisorRequest(operation: "agent.terminals", arguments: CallerTerminal.arguments(["id": id, "name": name])), socketPath: socket.path))
    }
}

struct AgentPortsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ports",
        abstract: "List the ports a running agent's environment declares, or forward one to your loopback.",
        discussion: """
            Forwarding listens on 127.0.0.1 (only) and, for each connection, has the agent's owner connect to \
            the port on the sandbox's own loopback. Only ports the environment's `ports` declares can be \
            reached. Runs until interrupted or until the agent ends.
            """)

    @Argument(help: "The agent's id.") var id: String
    @Argument(help: "A declared port to forward (none: list them).") var port: UInt16?
    @Option(name: .long, help: ArgumentHelp("The local port (default: the same number; 0: any free one).", valueName: "port"))
    var local: UInt16?
    @OptionGroup var socket: SupervisorSocketOption

    /// Connections relayed at once; more wait in the listen queue.
    static let maxConnections = 64

    func run() throws {
        guard let port else {
            return try SupervisorAnswer.finish(SupervisorClient.send(SupervisorRequest(operation: "agent.ports", arguments: ["id": id]),
                                                                     socketPath: socket.path))
        }
        // Asked once first, so a refusal or a stopped agent is reported before anything listens;
        // a port nothing listens on yet (a server still starting) is forwarded anyway.
        let first = SupervisorClient.send(SupervisorRequest(operation: "agent.ports", arguments: ["id": id, "port": String(port)]), socketPath: socket.path)
        if first.status == 75 {
            printError("warden: nothing answers on port \(port) in the sandbox yet (\(stripTerminalControls(first.error).trimmingWhitespace())); forwarding anyway")
        } else {
            guard first.status == 0, let probe = first.descriptor else { return try SupervisorAnswer.finish(first) }
            probe.descriptor.close()
        }
        let listener: FileDescriptor
        let bound: UInt16
        do { (listener, bound) = try LoopbackListener.open(port: local ?? port) } catch {
            printError("warden: ports: cannot listen on 127.0.0.1:\(local ?? port): \(error.reason)")
            throw ExitCode(71)
        }
        print("forwarding 127.0.0.1:\(bound) -> agent \(id) port \(port) (interrupt to stop)")
        fflush(nil)
        let active = ConnectionCount(limit: Self.maxConnections)
        while true {
            let accepted = accept(listener.raw, nil, nil)
            guard accepted >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                printError("warden: ports: accept: \(errnoDescription(errno))")
                throw ExitCode(71)
            }
            let client = FileDescriptor(accepted)
            _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
            guard active.tryAcquire() else {
                printError("warden: ports: \(Self.maxConnections) connections are being relayed; this one is refused")
                client.close()
                continue
            }
            let response = SupervisorClient.send(SupervisorRequest(operation: "agent.ports", arguments: ["id": id, "port": String(port)]),
                                                 socketPath: socket.path)
            guard response.status == 0, let remote = response.descriptor?.descriptor else {
                client.close()
                active.release()
                // The agent ended (or the policy changed): nothing more to forward.
                if response.status == 1 || response.status == 123 { return try SupervisorAnswer.finish(response) }
                printError(stripTerminalControls(response.error).trimmingWhitespace())
                continue
            }
            let pair = UncheckedBox((client, remote))
            if let work = BackgroundWork<Void>.onOwnThread({
                ByteRelay.run(pair.value.0, pair.value.1)
                active.release()
            }) {
                work.detach()
            } else {
                active.release()
            }
        }
    }
}
