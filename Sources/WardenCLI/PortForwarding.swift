import Glibc
import Synchronization
import WardenSystem

/// A TCP listener on 127.0.0.1 only: a forwarded port is the caller's alone, never the network's.
enum LoopbackListener {
    static func open(port: UInt16) throws(SystemError) -> (FileDescriptor, UInt16) {
        let fd = FileDescriptor(try check("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var one: Int32 = 1
        setsockopt(fd.raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        try check("bind(127.0.0.1:\(port))") {
            withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        try check("listen") { listen(fd.raw, 64) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try check("getsockname") {
            withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd.raw, $0, &length) } }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}

/// Copies bytes both ways between two connected sockets until both directions have ended; an
/// end of one direction is passed on as a half-close.
enum ByteRelay {
    static func run(_ a: FileDescriptor, _ b: FileDescriptor) {
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
final class ConnectionCount: Sendable {
    private let count = Mutex(0)
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func tryAcquire() -> Bool {
        count.withLock { value in
            guard value < limit else { return false }
            value += 1
            return true
        }
    }

    func release() {
        count.withLock { $0 -= 1 }
    }
}
