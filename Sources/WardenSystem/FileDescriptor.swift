import CWardenShim
import Glibc

/// An owned file descriptor, closed exactly once: by `close()`, or when the last reference goes.
/// A class rather than a noncopyable struct because plans hold descriptors in arrays.
public final class FileDescriptor {
    public private(set) var raw: Int32

    public init(_ raw: Int32) {
        self.raw = raw
    }

    deinit {
        if raw >= 0 { Glibc.close(raw) }
    }

    public var isOpen: Bool { raw >= 0 }

    public func close() {
        if raw >= 0 {
            Glibc.close(raw)
            raw = -1
        }
    }

    /// Gives up ownership: the caller becomes responsible for closing the number returned.
    public func release() -> Int32 {
        let value = raw
        raw = -1
        return value
    }

    /// Opens a path with O_CLOEXEC always added.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SystemError) -> FileDescriptor {
        let fd = try check("open(\(path))") { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(fd)
    }

    /// Opens relative to this directory descriptor.
    public func openAt(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SystemError) -> FileDescriptor {
        let fd = try check("openat(\(path))") { Glibc.openat(raw, path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(fd)
    }

    public func stat() throws(SystemError) -> Glibc.stat {
        var st = Glibc.stat()
        try check("fstat") { fstat(raw, &st) }
        return st
    }

    /// Reads until end of file (bounded, so a hostile file cannot exhaust memory).
    public func readAll(limit: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try checkSize("read") { chunk.withUnsafeMutableBytes { Glibc.read(raw, $0.baseAddress, $0.count) } }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw SystemError(errno: EFBIG, step: "read") }
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = try checkSize("write") {
                bytes.withUnsafeBytes { Glibc.write(raw, $0.baseAddress! + offset, $0.count - offset) }
            }
            offset += n
        }
    }

    public func writeAll(_ text: String) throws(SystemError) {
        try writeAll(Array(text.utf8))
    }
}

/// accept4(2) with the new descriptor close-on-exec (and `flags`, e.g. SOCK_NONBLOCK): no
/// window in which a concurrent spawn could inherit it. -1 with errno on failure.
public func acceptCloseOnExec(_ listener: Int32, flags: Int32 = 0) -> Int32 {
    wd_accept4(listener, flags | Int32(SOCK_CLOEXEC.rawValue))
}

extension FileDescriptor {
    /// A pipe whose two ends are closed on exec: (read end, write end).
    public static func pipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
        var ends: [Int32] = [-1, -1]
        try check("pipe2") { wd_pipe2(&ends, O_CLOEXEC) }
        return (FileDescriptor(ends[0]), FileDescriptor(ends[1]))
    }
}
