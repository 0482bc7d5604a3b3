import Glibc
import Synchronization

/// Copies bytes both ways between two connected sockets until both directions have ended; an
/// end of one direction is passed on as a half-close.
public enum ByteRelay {
    public static func run(_ a: FileDescriptor, _ b: FileDescriptor) {
        defer {
            a.close()
            b.close()
        }
        var open = [true, true]  // a -> b, b -> a
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while open[0] || open[1] {
            var fds = [pollfd(fd: open[0] ? a.raw : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: open[1] ? b.raw : -1, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            for (index, (from, to)) in [(a, b), (b, a)].enumerated() where open[index] && fds[index].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(from.raw, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0, writeFully(to.raw, buffer, count: n) else {
                    open[index] = false
                    shutdown(to.raw, Int32(SHUT_WR))
                    if n < 0 { return }
                    continue
                }
            }
        }
    }

    private static func writeFully(_ fd: Int32, _ buffer: [UInt8], count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let n = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}

/// How many connections are relayed at once, up to a limit.
public final class ConnectionCount: Sendable {
    private let count = Mutex(0)
    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    public func tryAcquire() -> Bool {
        count.withLock { value in
            guard value < limit else { return false }
            value += 1
            return true
        }
    }

    public func release() {
        count.withLock { $0 -= 1 }
    }
}
