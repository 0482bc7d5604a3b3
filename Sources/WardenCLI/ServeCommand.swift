import Agent
import ArgumentParser
import Glibc
import Synchronization
import Policy
import Sandbox
import Store
import WardenSystem

/// `warden serve`: the long-running supervisor. The `warden secrets` (and, next, `warden
/// agent`) commands talk to it over its socket; it alone holds the secrets key.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the supervisor (root): the socket the agent and secrets commands use.",
        discussion: """
            The socket (default \(SupervisorClient.systemSocket), or WARDEN_SOCKET) is mode 0666: \
            any local user may connect, and each request is decided by the organisation's policy \
            for the caller's uid as the kernel reports it (SO_PEERCRED). The secrets key file \
            (default \(KeyFileProvider.systemPath)) is made on first use, root-only, outside \
            Warden's home. Stops on SIGINT or SIGTERM.
            """)

    @Option(name: .long, help: ArgumentHelp("Warden's home (default: WARDEN_HOME, else /var/lib/warden).", valueName: "dir"))
    var home: String?

    @Option(name: .long, help: ArgumentHelp("The socket to listen on.", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp("The secrets key file (kept apart from the home).", valueName: "path"))
    var keyFile: String?

    @Option(name: .customLong("audit-stream"), help: ArgumentHelp("Stream every audit record to TARGET (as `warden audit stream --to`; @FILE reads it from a 0600 file).", valueName: "target"))
    var auditStream: String?
    @Option(name: .customLong("audit-stream-format"), help: ArgumentHelp("jsonl or ocsf.", valueName: "format"))
    var auditStreamFormat = "jsonl"

    func run() throws {
        guard geteuid() == 0 else {
            printError("warden: serve needs root: it runs sandboxes with the network guard and alone holds the secrets key")
            throw ExitCode(WardenExitCode.layerUnavailable)
        }
        Host.hardenSelf()
        let home = PolicyHome.resolve(requested: home ?? Host.environment("WARDEN_HOME"), uid: 0).path
        let socketPath = socket ?? Host.environment("WARDEN_SOCKET") ?? SupervisorClient.systemSocket
        guard socketPath.hasPrefix("/") else { throw ValidationError("--socket \(socketPath): expected an absolute path") }
        let keyPath = keyFile ?? KeyFileProvider.systemPath
        guard keyPath.hasPrefix("/") else { throw ValidationError("--key-file \(keyPath): expected an absolute path") }
        let keys = KeyFileProvider(path: keyPath, home: home)
        do {
            // Fail at start, not at the first request, when the home or the key is unusable.
            if Files.lstat(home) == nil { try Files.makeDirectories(home, mode: 0o755) }
            _ = try SecretStore(path: SecretStore.path(home: home), keys: keys)
        } catch let error as StoreError {
            printError("warden: serve: \(error.message)")
            throw ExitCode(WardenExitCode.setupFailed)
        } catch let error as SystemError {
            printError("warden: serve: \(error.description)")
            throw ExitCode(WardenExitCode.setupFailed)
        }
        let directory = String(socketPath[..<(socketPath.lastIndex(of: "/") ?? socketPath.startIndex)])
        if !directory.isEmpty && Files.lstat(directory) == nil { mkdir(directory, 0o755) }
        let server: SupervisorServer
        do {
            server = try SupervisorServer(socketPath: socketPath, handler: WardenSupervisor(
                secrets: SecretsService(home: home, keys: keys), agents: AgentQueryService(home: home),
                starts: AgentStartService(home: home, keyFile: keyPath), controls: AgentControlService(home: home),
                sessions: AgentSessionService(home: home), audit: AuditReadService(home: home)))
        } catch {
            printError("warden: serve: \(error.description)")
            throw ExitCode(WardenExitCode.setupFailed)
        }
        var stream: AuditStream?
        if let auditStream {
            do {
                guard let format = AuditStreamFormat(rawValue: auditStreamFormat) else { throw ValidationError("--audit-stream-format \(auditStreamFormat): expected jsonl or ocsf") }
                stream = try AuditStreamSetup.make(home: home, target: try AuditStreamTarget.parse(auditStream), format: format)
            } catch let error as PolicyError {
                printError("warden: serve: --audit-stream: \(error.message)")
                throw ExitCode(WardenExitCode.setupFailed)
            } catch let error as AuditStreamSetup.SetupError {
                printError("warden: serve: --audit-stream: \(error.message)")
                throw ExitCode(WardenExitCode.setupFailed)
            }
        }
        try ServeSignals.stopOnTermination(server)
        // Agents that outlived a previous supervisor are adopted or, when their owner process is
        // gone, ended as failed; then the same every half minute, with the retention sweep.
        report(AgentRecovery.run(home: home))
        ServeMaintenance.start(home: home)
        printError("warden: supervisor listening on \(socketPath) (home \(home))")
        if let stream, Files.lstat(SQLiteAuditStore.path(home: home)) != nil, let failure = stream.recordStart() {
            printError("warden: serve: --audit-stream: the stream cannot be recorded, so it does not start: \(failure)")
            throw ExitCode(WardenExitCode.setupFailed)
        }
        let streaming = stream.flatMap { ServeAuditStream.start($0) }
        server.run()
        // A clean stop: the stream finishes the batch in hand and saves its position, and the
        // log gets a keyed checkpoint.
        streaming?.finish()
        if Files.lstat(SQLiteAuditStore.path(home: home)) != nil {
            try? SQLiteAuditStore(path: SQLiteAuditStore.path(home: home), create: false, key: try AuditKey.load(home: home)).checkpoint(reason: "stop")
        }
    }
}

/// What the supervisor does on its own, every `interval` seconds: notice agents whose owner
/// process died (R17), delete ended agents' data past retention, and remove the empty cgroups
/// of sandboxes killed outright.
enum ServeMaintenance {
    static let intervalSeconds: UInt32 = 30

    static func start(home: String) {
        BackgroundWork<Void>.onOwnThread {
            // Bounded only by the supervisor's life: it ends with the process.
            while true {
                sleep(intervalSeconds)
                report(AgentRecovery.run(home: home), adoption: false)
                guard let policy = try? PolicyService(home: home).current().policy else { continue }
                let audit = AuditRetention.run(home: home, policy: policy, now: wallMilliseconds())
                if let purged = audit.purged { printError("warden: retention: purged \(purged.count) audit record(s) (records \(purged.first)…\(purged.last))") }
                if let failure = audit.failure { printError("warden: retention: \(failure)") }
                guard let agents = try? AgentStore.existing(home: home) else { continue }
                let outcome = RetentionSweep.run(agents: agents, policy: policy, layout: AgentLayout(home: home), now: wallMilliseconds())
                for id in outcome.removed { printError("warden: retention: removed the data of agent \(id)") }
                for key in outcome.snapshotsRemoved { printError("warden: retention: removed environment snapshot \(key.prefix(12))") }
                for line in outcome.failures { printError("warden: retention: \(stripTerminalControls(line))") }
                // Cgroups of sandboxes whose owner was killed outright.
                AbandonedCgroups.sweep(runtimeDirectory: WardenPaths.forCurrentUser().runtime)
            }
        }?.detach()
    }
}

func report(_ outcome: AgentRecovery.Outcome, adoption: Bool = true) {
    if adoption && !outcome.adopted.isEmpty { printError("warden: adopted running agents: \(outcome.adopted.joined(separator: ", "))") }
    for id in outcome.failed { printError("warden: agent \(id) lost its owner process; marked failed") }
    for problem in outcome.problems { printError("warden: recovery: \(stripTerminalControls(problem))") }
}

/// SIGINT and SIGTERM stop the server's loop (it removes its socket). Read through a
/// signalfd, which also works when the caller started us with those signals blocked.
enum ServeSignals {
    static func stopOnTermination(_ server: SupervisorServer) throws {
        let channel: SignalChannel
        do { channel = try SignalChannel(signals: [SIGINT, SIGTERM]) } catch {
            printError("warden: serve: \(error.description)")
            throw ExitCode(WardenExitCode.setupFailed)
        }
        let watched = UncheckedBox(channel)
        guard BackgroundWork<Void>.onOwnThread({
            var entry = pollfd(fd: watched.value.descriptor.raw, events: Int16(POLLIN), revents: 0)
            while poll(&entry, 1, -1) < 0 && errno == EINTR {}
            server.stop()
        }) != nil else {
            printError("warden: serve: cannot start the signal thread")
            throw ExitCode(WardenExitCode.setupFailed)
        }
    }
}

/// The supervisor's audit stream (`--audit-stream`): its own thread, stopped with the supervisor.
final class ServeAuditStream: @unchecked Sendable {
    // Safe: `stopping` is only set once, under the lock.
    private let stopping = Mutex(false)
    private var work: BackgroundWork<Void>?

    static func start(_ stream: AuditStream) -> ServeAuditStream? {
        let running = ServeAuditStream()
        let box = UncheckedBox(stream)
        running.work = BackgroundWork<Void>.onOwnThread {
            do {
                let position = try box.value.run(stop: { running.stopping.withLock { $0 } }, report: { printError("warden: " + $0) })
                printError("warden: audit stream to \(box.value.target) stopped at record \(position)")
            } catch {
                printError("warden: audit stream to \(box.value.target) ended: the audit log cannot be read: \((error as? StoreError)?.message ?? "\(error)")")
            }
        }
        return running
    }

    func finish() {
        stopping.withLock { $0 = true }
        work?.wait()
    }
}
