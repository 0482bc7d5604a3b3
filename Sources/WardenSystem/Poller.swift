import Glibc

/// poll(2) over a small, changing set of descriptors. The supervisor's loop is single-threaded
/// and synchronous: the descriptors are few and the work per event is small.
public struct Poller {
    public struct Event: Sendable {
        public let fd: Int32
        public let readable: Bool
        public let hangup: Bool
    }

    public init() {}

    /// Waits up to `timeoutMilliseconds` (-1: forever) for any descriptor to become readable.
    public func wait(_ fds: [Int32], timeoutMilliseconds: Int32) throws(SystemError) -> [Event] {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while true {
            let n = entries.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds) }
            if n >= 0 { break }
            if Glibc.errno == EINTR { continue }
            throw SystemError.current("poll")
        }
        return entries.compactMap { entry in
            guard entry.revents != 0 else { return nil }
            let readable = entry.revents & Int16(POLLIN) != 0
            let hangup = entry.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
            return Event(fd: entry.fd, readable: readable, hangup: hangup)
        }
    }
}
