import Glibc
import WardenSystem

/// The caller's side of `warden agent attach` and `terminals`: this process's terminal relayed
/// to a pseudo-terminal inside a sandbox (like `ssh -t`) until the far side hangs up. The
/// caller's terminal is never handed in (TIOCSTI there reaches only the sandbox's own terminal,
/// R12) and what comes back passes the same escape filter as `warden run` (R13).
public enum TerminalSession {
    /// Relays standard input and output to `master`. When standard input is not a terminal,
    /// its end becomes an end-of-file (^D) on the sandbox's terminal, so a shell fed a script
    /// ends when the script does.
    public static func relay(master: FileDescriptor) {
        let input: Int32 = 0, output: Int32 = 1
        let interactive = TerminalInfo.isTerminal(input)
        if let size = TerminalInfo.windowSize(input) { TerminalInfo.setWindowSize(master.raw, size) }
        let signals = try? SignalChannel(signals: [SIGWINCH])
        defer { signals?.restore() }
        let relay = TerminalRelay(master: master, input: input, output: output)
        defer { relay.restore() }
        var inputEnded = false
        while relay.masterOpen {
            var fds = relay.pollDescriptors
            if let signals { fds.append(signals.descriptor.raw) }
            let events: [Poller.Event]
            do { events = try Poller().wait(fds, timeoutMilliseconds: relay.hasPendingInput ? 10 : -1) } catch { return }
            relay.flushInput()
            for event in events {
                switch event.fd {
                case master.raw:
                    relay.pumpOutput()
                case relay.inputDescriptor:
                    relay.pumpInput()
                    if relay.inputDescriptor == nil, !interactive, !inputEnded {
                        inputEnded = true
                        var endOfFile: UInt8 = 0x04
                        _ = write(master.raw, &endOfFile, 1)
                    }
                case signals?.descriptor.raw:
                    if signals?.drain().contains(SIGWINCH) == true { relay.resize() }
                default:
                    break
                }
            }
        }
        relay.drainOutput()
    }
}
