import FoundationEssentials
import Glibc
import NetGuard
import Sandbox
import Synchronization
import WardenSystem

/// What a running agent's owner offers the supervisor on its control socket (root only):
/// a shell or a tmux terminal forked inside the sandbox by its init (R11) on a pseudo-terminal
/// whose master is handed back (R12), and connections to the ports the environment declares,
/// made inside the sandbox's network namespace. The supervisor has already decided who may ask
/// (R25); this side decides only what exists.
final class AgentSession: SupervisorHandler {
    struct Description: Codable, Equatable {
        var terminals: [TerminalEntry]
        var ports: [PortEntry]
    }

    struct TerminalEntry: Codable, Equatable {
        var name: String
        var description: String?
    }

    struct PortEntry: Codable, Equatable {
        var port: UInt16
        var name: String?
    }

    private struct Running {
        var spawner: SandboxSpawner?
        var namespace: FileDescriptor?
    }

    let terminals: [AgentTerminal]
    let ports: [AgentEnvironment.Port]
    /// Forwarded connections relayed at once (each a thread of the owner).
    let relays = ConnectionCount(limit: 128)
    private let running = Mutex(UncheckedBox(Running()))

    init(terminals: [AgentTerminal], ports: [AgentEnvironment.Port]) {
        self.terminals = terminals
        self.ports = ports
    }

    /// The sandbox started: its spawner, and its network namespace held by descriptor (the
    /// namespace of that very sandbox, even if its pid is reused later).
    func started(pid: Int32, spawner: SandboxSpawner?) {
        let namespace = try? FileDescriptor.open("/proc/\(pid)/ns/net", O_RDONLY)
        running.withLock { $0 = UncheckedBox(Running(spawner: spawner, namespace: namespace)) }
    }

    func ended() {
        running.withLock { state in
            state.value.namespace?.close()
            state = UncheckedBox(Running())
        }
    }

    func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        guard callerUID == 0 else { return .failure(123, "warden: the agent's control socket answers only the supervisor") }
        switch request.operation {
        case "session.describe":
            let description = Description(terminals: terminals.map { TerminalEntry(name: $0.session, description: $0.description) },
                                          ports: ports.map { PortEntry(port: $0.port, name: $0.name) })
            guard let bytes = SupervisorFraming.encode(description) else { return .failure(70, "warden: cannot describe the session") }
            return SupervisorResponse(output: String(decoding: bytes, as: UTF8.self))
        case "session.shell":
            return spawn(Self.shell, request)
        case "session.terminal":
            let name = request.arguments["name"] ?? ""
            guard let terminal = terminals.first(where: { $0.session == name }) else {
                return .failure(1, "warden: no terminal \(stripTerminalControls(String(name.prefix(64)))) (see `warden agent terminals ID`)")
            }
            // `=` makes tmux match the session name exactly, never as a prefix or pattern.
            return spawn(["tmux", "attach-session", "-t", "=" + terminal.session], request)
        case "session.connect":
            return connect(request.arguments["port"].flatMap { UInt16($0) })
        default:
            return .failure(125, "warden: unknown operation \(request.operation)")
        }
    }

    /// A login shell: bash where the system has it.
    static var shell: [String] { access("/bin/bash", X_OK) == 0 ? ["/bin/bash", "-l"] : ["/bin/sh", "-l"] }

    private func spawn(_ argv: [String], _ request: SupervisorRequest) -> SupervisorResponse {
        guard let spawner = running.withLock({ $0.value.spawner }) else {
            return .failure(1, "warden: the agent's sandbox is not running")
        }
        let term = request.arguments["term"].flatMap { Self.isPlainTerm($0) ? $0 : nil } ?? "xterm-256color"
        let rows = request.arguments["rows"].flatMap { UInt16($0) } ?? 24
        let columns = request.arguments["columns"].flatMap { UInt16($0) } ?? 80
        do {
            let spawned = try spawner.spawn(SandboxSpawner.Request(argv: argv, environment: [("TERM", term)], rows: rows, columns: columns))
            return SupervisorResponse(info: ["pid": String(spawned.pid)], descriptor: PassedDescriptor(spawned.master))
        } catch {
            return .failure(70, "warden: \(error.message)")
        }
    }

    private func connect(_ port: UInt16?) -> SupervisorResponse {
        guard let port, port > 0 else { return .failure(125, "warden: expected a port number") }
        guard ports.contains(where: { $0.port == port }) else {
            let declared = ports.map { String($0.port) }.joined(separator: ", ")
            return .failure(123, "warden: refused: port \(port) is not declared in the environment's `ports` (declared: \(declared.isEmpty ? "none" : declared))")
        }
        // A copy taken under the lock: `ended()` may close the original meanwhile.
        let copy = running.withLock { state -> Int32 in state.value.namespace.map { dup($0.raw) } ?? -1 }
        guard copy >= 0 else { return .failure(1, "warden: the agent's sandbox is not running") }
        let namespace = FileDescriptor(copy)
        guard relays.tryAcquire() else { return .failure(75, "warden: \(relays.limit) forwarded connections are open; try again") }
        do {
            let socket = try NamespaceConnector.connectLoopback(namespace: namespace, port: port)
            // The caller gets one end of a socket pair, never the socket in the sandbox's
            // namespace (which it could reconnect to any other port or route from there).
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                relays.release()
                return .failure(70, "warden: socketpair: \(errnoDescription(errno))")
            }
            let ends = UncheckedBox((FileDescriptor(pair[1]), socket))
            let relays = self.relays
            guard let work = BackgroundWork<Void>.onOwnThread({
                ByteRelay.run(ends.value.0, ends.value.1)
                relays.release()
            }) else {
                relays.release()
                close(pair[0])
                return .failure(75, "warden: no thread to relay the connection; try again")
            }
            work.detach()
            return SupervisorResponse(descriptor: PassedDescriptor(FileDescriptor(pair[0])))
        } catch {
            relays.release()
            // 75: try again later (the server in the sandbox may still be starting).
            return .failure(75, "warden: \(error.message)")
        }
    }

    /// A terminal type is a plain name (xterm-256color, screen.linux): nothing else reaches
    /// the sandbox's environment from the caller.
    static func isPlainTerm(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 64
            && value.utf8.allSatisfy { $0 < 0x80 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "+")) }
    }
}
