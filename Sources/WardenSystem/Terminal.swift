import Glibc

/// The caller's terminal, put into raw mode while a sandbox's pseudo-terminal is relayed
/// (like `ssh -t`), and restored afterwards.
public final class RawTerminal {
    private let fd: Int32
    private var saved = termios()
    private var active = false

    public init(fd: Int32) {
        self.fd = fd
    }

    public func enable() {
        guard tcgetattr(fd, &saved) == 0 else { return }
        var raw = saved
        cfmakeraw(&raw)
        if tcsetattr(fd, TCSADRAIN, &raw) == 0 { active = true }
    }

    public func restore() {
        if active {
            tcsetattr(fd, TCSADRAIN, &saved)
            active = false
        }
    }

    deinit { restore() }
}

public enum TerminalInfo {
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    public static func windowSize(_ fd: Int32) -> winsize? {
        var size = winsize()
        return ioctl(fd, UInt(TIOCGWINSZ), &size) == 0 ? size : nil
    }

    public static func setWindowSize(_ fd: Int32, _ size: winsize) {
        var copy = size
        _ = ioctl(fd, UInt(TIOCSWINSZ), &copy)
    }
}

/// Makes sure descriptors 0, 1 and 2 are open, so that no descriptor Warden opens later can
/// take one of those numbers and be mistaken for a standard stream by the workload.
public func ensureStandardDescriptors() {
    for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 {
        let null = open("/dev/null", O_RDWR)
        if null >= 0 && null != fd {
            dup2(null, fd)
            close(null)
        }
    }
}
