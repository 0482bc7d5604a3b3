import Glibc
import WardenSystem

/// Enforces a deadline from its own thread: the supervisor's loop can block (writing to a
/// caller's terminal that does not read), and the timeout must hold regardless.
final class Watchdog: @unchecked Sendable {
    // Safe: `cancel` is written once before the thread starts; the thread only reads it.
    private let cancel: (read: FileDescriptor, write: FileDescriptor)
    private var work: BackgroundWork<Bool>?

    /// Calls `action` at `deadline` (monotonic ns) unless stopped before.
    init?(deadline: UInt64, action: @escaping @Sendable () -> Void) {
        var pipe: [Int32] = [-1, -1]
        guard Glibc.pipe(&pipe) == 0 else { return nil }
        for fd in pipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        cancel = (FileDescriptor(pipe[0]), FileDescriptor(pipe[1]))
        let cancelRead = pipe[0]
        // On its own thread or not at all: run here, it would hold the launch until the deadline.
        work = BackgroundWork.onOwnThread {
            while true {
                let now = monotonicNanoseconds()
                if now >= deadline {
                    action()
                    return true
                }
                var entry = pollfd(fd: cancelRead, events: Int16(POLLIN), revents: 0)
                let milliseconds = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
                let ready = poll(&entry, 1, milliseconds)
                if ready > 0 { return false }
            }
        }
        if work == nil { return nil }
    }

    /// Stops the watchdog; true when it had already fired.
    func stop() -> Bool {
        var byte: UInt8 = 1
        _ = write(cancel.write.raw, &byte, 1)
        return work?.wait() ?? false
    }
}
