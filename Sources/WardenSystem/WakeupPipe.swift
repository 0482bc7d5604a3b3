import Glibc

/// Wakes a thread that waits with a timeout: `wait` sleeps until `signal` or the timeout,
/// whichever comes first. A pipe, so a signal sent before the wait is not lost.
public final class WakeupPipe: @unchecked Sendable {
    // Safe: both descriptors are set once in `init`; read(2)/write(2)/poll(2) on them are
    // thread-safe.
    private let readEnd: Int32
    private let writeEnd: Int32

    public init?() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    deinit {
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
    }

    public func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// True when signalled (the signal is consumed), false on timeout.
    @discardableResult
    public func wait(milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, milliseconds) > 0 else { return false }
        var scratch = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &scratch, scratch.count) > 0 {}
        return true
    }
}
