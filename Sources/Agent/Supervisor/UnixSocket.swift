import CWardenShim
import Glibc
import WardenSystem

/// The supervisor's Unix stream socket: listening, connecting, the peer's credentials
/// (SO_PEERCRED: the kernel's word for who is calling), and bounded line reads.
enum UnixSocket {
    static func address(_ path: String) throws(SystemError) -> (sockaddr_un, socklen_t) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw SystemError(errno: ENAMETOOLONG, step: "socket path \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return (address, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
    }

    static func listen(_ path: String, mode: mode_t) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(try check("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var (address, length) = try address(path)
        // A socket left by a supervisor that died is replaced; a live one is not.
        if Files.lstat(path) != nil {
            if (try? connect(path)) != nil { throw SystemError(errno: EADDRINUSE, step: "another supervisor listens on \(path)") }
            unlink(path)
        }
        // The node gets its mode at bind (from the umask): no chmod by path afterwards, which
        // would follow a link someone put there meanwhile. Called before any thread starts.
        let previous = umask(~mode & 0o777)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.raw, $0, length) } }
        let bindErrno = errno
        umask(previous)
        guard bound == 0 else { throw SystemError(errno: bindErrno, step: "bind(\(path))") }
        try check("listen(\(path))") { Glibc.listen(fd.raw, 64) }
        return fd
    }

    static func connect(_ path: String) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(try check("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var (address, length) = try address(path)
        try check("connect(\(path))") { withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd.raw, $0, length) } } }
        return fd
    }

    /// The calling process's uid, as the kernel recorded it at connect.
    static func peerUID(_ fd: Int32) -> UInt32? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE).
        var credentials: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, length == 12 else { return nil }
        return credentials.1
    }

    /// Reads up to and including the first newline, at most `limit` bytes, within `timeout` ms.
    static func readLine(_ fd: Int32, limit: Int, timeoutMilliseconds: Int32) -> [UInt8]? {
        readLineAndDescriptor(fd, limit: limit, timeoutMilliseconds: timeoutMilliseconds)?.line
    }

    /// The same, also taking the descriptor the sender attached (SCM_RIGHTS); extra ones are closed.
    static func readLineAndDescriptor(_ fd: Int32, limit: Int, timeoutMilliseconds: Int32) -> (line: [UInt8], descriptor: FileDescriptor?)? {
        var line: [UInt8] = []
        var descriptor: FileDescriptor?
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        while line.count <= limit {
            let now = monotonicNanoseconds()
            guard now < deadline else { return nil }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, Int32((deadline - now) / 1_000_000) + 1) > 0 else { return nil }
            var passed: Int32 = -1
            let n = buffer.withUnsafeMutableBytes { wd_recv_fd(fd, $0.baseAddress, $0.count, &passed) }
            if passed >= 0 {
                if descriptor == nil { descriptor = FileDescriptor(passed) } else { close(passed) }
            }
            guard n > 0 else { return line.isEmpty ? nil : (line, descriptor) }
            if let newline = buffer[0..<n].firstIndex(of: 0x0A) {
                line += buffer[0..<newline]
                return line.count <= limit ? (line, descriptor) : nil
            }
            line += buffer[0..<n]
        }
        return nil
    }

    /// Sends `bytes`, the first part carrying `descriptor` (SCM_RIGHTS) when given.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], descriptor: FileDescriptor?) -> Bool {
        guard let descriptor else { return writeAll(fd, bytes) }
        var n: Int
        repeat {
            n = bytes.withUnsafeBytes { wd_send_fd(fd, $0.baseAddress, $0.count, descriptor.raw) }
        } while n < 0 && errno == EINTR
        guard n > 0 else { return false }
        return n == bytes.count || writeAll(fd, Array(bytes[n...]))
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
