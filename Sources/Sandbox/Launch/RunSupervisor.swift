import CWardenShim
import Glibc
import WardenSystem

/// What the supervisor observed while the sandbox ran.
struct SupervisionResult {
    /// The workload's wait status, as reported by the sandbox's pid 1.
    var workloadStatus: Int32?
    var setupFailure: (step: UInt32, index: Int32, errno: Int32)?
    var execFailure: Int32?
    var ready: wd_msg?
    /// How pid 1 ended (si_code, si_status).
    var initExit: (code: Int32, status: Int32)?
    var timedOut = false
    var denials: [String: Int] = [:]
    var refusedSockets: [RunManifest.RefusedSocket] = []
    var terminal = false
    /// Monotonic times (ns): the workload about to exec, its exit reported, pid 1 gone.
    var readyAt: UInt64?
    var exitedAt: UInt64?
    var initExitedAt: UInt64?
}

/// The single-threaded event loop of `warden run` while the sandbox lives: control messages
/// from the child, seccomp notifications, the terminal relay, forwarded signals, the timeout,
/// and the exit of the sandbox's pid 1.
final class RunSupervisor {
    private let control: FileDescriptor
    private let pidfd: FileDescriptor
    private let signals: SignalChannel
    private let resolver: LazyDenialResolver?
    private let deadline: UInt64?
    private let terminalOutput: (input: Int32?, output: Int32)?
    private let onTimeout: @Sendable () -> Void
    private let spawner: SandboxSpawner?
    private var responder: SeccompResponder?
    private var relay: TerminalRelay?
    private var result = SupervisionResult()

    /// Setup must finish within this time, whatever the run's own timeout.
    static let setupDeadlineNanoseconds: UInt64 = 60_000_000_000

    init(control: FileDescriptor, pidfd: FileDescriptor, signals: SignalChannel, resolver: LazyDenialResolver?, spawner: SandboxSpawner? = nil,
         timeoutSeconds: Double?, terminal: (input: Int32?, output: Int32)?, onTimeout: @escaping @Sendable () -> Void) {
        self.control = control
        self.pidfd = pidfd
        self.signals = signals
        self.resolver = resolver
        self.terminalOutput = terminal
        self.onTimeout = onTimeout
        self.spawner = spawner
        if let timeoutSeconds {
            deadline = monotonicNanoseconds() + UInt64(timeoutSeconds * 1_000_000_000)
        } else {
            deadline = nil
        }
    }

    func run() throws(SandboxError) -> SupervisionResult {
        let setupDeadline = monotonicNanoseconds() + Self.setupDeadlineNanoseconds
        // The loop enforces the timeout; the watchdog is the backstop for when the loop is stuck
        // (one second later, so the two do not race in the ordinary case).
        let pidfdRaw = pidfd.raw
        let kill = onTimeout
        let watchdog = deadline.flatMap { deadline in
            Watchdog(deadline: deadline + 1_000_000_000) {
                _ = wd_pidfd_send_signal(pidfdRaw, SIGKILL)
                kill()
            }
        }
        var initExited = false
        var killed = false
        var controlOpen = true
        var listenerOpen = true
        defer { relay?.restore() }
        // Spawn requests reach pid 1 only once the workload runs; none is accepted after it ended.
        defer { spawner?.end() }
        while !initExited {
            var fds = [pidfd.raw, signals.descriptor.raw]
            if controlOpen { fds.append(control.raw) }
            if let responder, listenerOpen { fds.append(responder.listener.raw) }
            if let relay { fds += relay.pollDescriptors }

            var timeout: Int32 = -1
            let now = monotonicNanoseconds()
            if let deadline, !killed {
                timeout = deadline <= now ? 0 : Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
            }
            if result.ready == nil && result.setupFailure == nil && !killed {
                let remaining = setupDeadline <= now ? 0 : Int32(min(UInt64(Int32.max), (setupDeadline - now) / 1_000_000 + 1))
                timeout = timeout < 0 ? remaining : min(timeout, remaining)
            }
            if relay?.hasPendingInput == true { timeout = timeout < 0 ? 10 : min(timeout, 10) }

            let events: [Poller.Event]
            do { events = try Poller().wait(fds, timeoutMilliseconds: timeout) } catch {
                throw SandboxError(.internalError, "supervisor: \(error.description)", cause: error)
            }
            let after = monotonicNanoseconds()
            if !killed, let deadline, after >= deadline {
                result.timedOut = true
                killed = true
                onTimeout()
            }
            if !killed, result.ready == nil, result.setupFailure == nil, after >= setupDeadline {
                killed = true
                onTimeout()
                throw SandboxError(.setupFailed, "sandbox setup did not finish within \(Self.setupDeadlineNanoseconds / 1_000_000_000)s")
            }
            relay?.flushInput()

            for event in events {
                switch event.fd {
                case control.raw:
                    // At end of stream (the child is exiting) stop polling it; pidfd follows.
                    if !readControlMessages() || event.hangup && !event.readable { controlOpen = false }
                case pidfd.raw:
                    initExited = true
                    result.initExitedAt = monotonicNanoseconds()
                case signals.descriptor.raw:
                    for signal in signals.drain() {
                        if signal == SIGWINCH {
                            relay?.resize()
                        } else if signal != SIGCHLD {
                            _ = wd_pidfd_send_signal(pidfd.raw, signal)
                        }
                    }
                case responder?.listener.raw:
                    // Once every task of the filter is gone the listener hangs up: stop polling it,
                    // keep the counts.
                    if let responder, !responder.handleOne() || (event.hangup && !event.readable) { listenerOpen = false }
                case relay?.master.raw:
                    relay?.pumpOutput()
                case relay?.inputDescriptor:
                    relay?.pumpInput()
                default:
                    break
                }
            }
        }
        if watchdog?.stop() == true { result.timedOut = true }
        var code: Int32 = 0, status: Int32 = 0
        if wd_waitid_pidfd(pidfd.raw, &code, &status) == 0 { result.initExit = (code, status) }
        _ = readControlMessages()
        relay?.drainOutput()
        if let responder {
            // Denials still queued when the sandbox died were answered by the kernel.
            result.denials = responder.counts
            result.refusedSockets = responder.refusedSockets
        }
        return result
    }

    /// Reads every pending message. Returns false once the channel reached its end.
    private func readControlMessages() -> Bool {
        while true {
            var message = wd_msg()
            var passed: Int32 = -1
            var pending = pollfd(fd: control.raw, events: Int16(POLLIN), revents: 0)
            guard poll(&pending, 1, 0) > 0, pending.revents & Int16(POLLIN) != 0 else { return true }
            let n = wd_recv_msg(control.raw, &message, &passed)
            guard n == MemoryLayout<wd_msg>.size else { return n > 0 }
            let descriptor = passed >= 0 ? FileDescriptor(passed) : nil
            switch message.type {
            case UInt32(WD_MSG_SETUP_FAILED.rawValue):
                if result.setupFailure == nil { result.setupFailure = (message.step, message.index, message.err) }
            case UInt32(WD_MSG_PTY_MASTER.rawValue):
                if let descriptor, let terminalOutput {
                    relay = TerminalRelay(master: descriptor, input: terminalOutput.input, output: terminalOutput.output)
                    result.terminal = true
                }
            case UInt32(WD_MSG_SECCOMP_LISTENER.rawValue):
                if let descriptor, let resolver { responder = try? SeccompResponder(listener: descriptor, resolver: resolver) }
            case UInt32(WD_MSG_WORKLOAD_READY.rawValue):
                result.ready = message
                result.readyAt = monotonicNanoseconds()
                spawner?.open(control: control.raw)
            case UInt32(WD_MSG_SPAWNED.rawValue), UInt32(WD_MSG_SPAWN_FAILED.rawValue):
                spawner?.deliver(message, descriptor: descriptor)
            case UInt32(WD_MSG_EXEC_FAILED.rawValue):
                result.execFailure = message.err
            case UInt32(WD_MSG_WORKLOAD_EXITED.rawValue):
                result.workloadStatus = Int32(truncatingIfNeeded: message.value.0)
                result.exitedAt = monotonicNanoseconds()
                spawner?.end()
            default:
                break
            }
            if let responder {
                result.denials = responder.counts
                result.refusedSockets = responder.refusedSockets
            }
        }
    }
}
