import Glibc
import WardenSystem

/// Enforces a deadline from its own thread: the supervisor's loop can block (writing to a
/// caller's terminal that does not read), and the timeout must hold regardless.
final class Watchdog: @unchecked Sendable {
    // Safe: both are set once in `init`; the thread only waits on `cancel`.
    private let cancel: WakeupPipe
    private var work: BackgroundWork<Bool>?

    /// Calls `action` at `deadline` (monotonic ns) unless stopped before.
    init?(deadline: UInt64, action: @escaping @Sendable () -> Void) {
        guard let cancel = WakeupPipe() else { return nil }
        self.cancel = cancel
        // On its own thread or not at all: run here, it would hold the launch until the deadline.
        work = BackgroundWork.onOwnThread {
            while true {
                let now = monotonicNanoseconds()
                if now >= deadline {
                    action()
                    return true
                }
                let milliseconds = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
                if cancel.wait(milliseconds: milliseconds) { return false }
            }
        }
        if work == nil { return nil }
    }

    /// Stops the watchdog; true when it had already fired.
    func stop() -> Bool {
        cancel.signal()
        return work?.wait() ?? false
    }
}
