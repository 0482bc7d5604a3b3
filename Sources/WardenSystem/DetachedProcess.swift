import CWardenShim
import Glibc

/// Long-lived processes the supervisor starts but does not own: each agent's owner process
/// must outlive a supervisor restart (R17), so it runs in its own session, parented to init,
/// and the supervisor keeps no child to reap.
public enum DetachedProcess {
    /// Starts `path` with `arguments` and exactly `environment` (nothing of the caller's),
    /// standard input from /dev/null and standard output and error appended to `logPath`
    /// (created 0600).
    public static func start(_ path: String, _ arguments: [String], environment: [String], logPath: String) throws(SystemError) {
        let input = FileDescriptor(try check("open(/dev/null)") { open("/dev/null", O_RDONLY | O_CLOEXEC) })
        let output = FileDescriptor(try check("open(\(logPath))") {
            open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        })
        let argv = CStringArray([path] + arguments), envp = CStringArray(environment)
        try check("start \(path)") {
            argv.withPointers { arguments in envp.withPointers { wd_spawn_detached(path, arguments, $0, input.raw, output.raw) } }
        }
    }
}

/// A process named by its pid and its start time (field 22 of /proc/PID/stat, in clock ticks
/// since boot): a pid alone may have been reused by the time anyone looks again.
public struct ProcessIdentity: Codable, Sendable, Equatable {
    public var pid: Int32
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// This process.
    public static func current() -> ProcessIdentity? { of(getpid()) }

    /// The process now running as `pid`, if any (a zombie counts as gone).
    public static func of(_ pid: Int32) -> ProcessIdentity? {
        guard pid > 0, let text = try? Files.readText("/proc/\(pid)/stat", limit: 4096),
              let close = text.lastIndex(of: ")") else { return nil }
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X", let start = UInt64(fields[19]) else { return nil }
        return ProcessIdentity(pid: pid, startTime: start)
    }

    /// Whether the very same process still runs.
    public var isAlive: Bool { Self.of(pid) == self }

    /// Waits until the very same process has ended, at most `milliseconds`: exactly, on a
    /// pidfd taken before the identity check (readable once the process has exited). True when
    /// it has ended (or was gone already), false on timeout.
    public func waitForExit(milliseconds: Int32) -> Bool {
        let pidfd = wd_pidfd_open(pid, 0)
        guard pidfd >= 0 else { return true }
        defer { Glibc.close(pidfd) }
        guard isAlive else { return true }
        var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        let deadline = monotonicNanoseconds() + UInt64(max(0, milliseconds)) * 1_000_000
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return false }
            let ready = poll(&entry, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return !isAlive }
        }
    }

    /// Sends `signal` only if the very same process still runs, through a pidfd taken before
    /// the check, so the pid cannot be reused in between. True when the signal was sent.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        let pidfd = wd_pidfd_open(pid, 0)
        guard pidfd >= 0 else { return false }
        defer { Glibc.close(pidfd) }
        guard isAlive else { return false }
        return wd_pidfd_send_signal(pidfd, signal) == 0
    }
}
