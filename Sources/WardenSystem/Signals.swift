import CWardenShim
import Glibc

/// Signals the supervisor handles synchronously through a signalfd, so that no handler ever
/// runs on an arbitrary thread and the event loop sees signals as ordinary readable events.
public final class SignalChannel {
    public let descriptor: FileDescriptor
    private var previousMask: sigset_t

    /// Blocks `signals` for the calling thread (and children cloned from it) and opens a
    /// signalfd that reports them.
    public init(signals: [Int32]) throws(SystemError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        var previous = sigset_t()
        try check("sigprocmask") { pthread_sigmask(SIG_BLOCK, &mask, &previous) == 0 ? 0 : -1 }
        let fd = try check("signalfd") { signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK)) }
        descriptor = FileDescriptor(fd)
        previousMask = previous
    }

    /// Reads every pending signal (non-blocking).
    public func drain() -> [Int32] {
        var received: [Int32] = []
        var info = signalfd_siginfo()
        while true {
            let n = withUnsafeMutableBytes(of: &info) { read(descriptor.raw, $0.baseAddress, $0.count) }
            guard n == MemoryLayout<signalfd_siginfo>.size else { break }
            received.append(Int32(bitPattern: info.ssi_signo))
        }
        return received
    }

    /// Restores the signal mask that was in place before.
    public func restore() {
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)
    }
}

/// The signal name for messages ("SIGKILL").
public func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGTTIN: "SIGTTIN",
        SIGTTOU: "SIGTTOU", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS", SIGWINCH: "SIGWINCH",
    ]
    return names[signal] ?? "signal \(signal)"
}
