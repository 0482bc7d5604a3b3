import Glibc
import WardenSystem

/// The cgroup file system as Warden uses it. A seam so that the v1 and the v2 logic can both be
/// tested on a machine that has only one of them (`KernelCgroupFileSystem` is the real one).
public protocol CgroupFileSystem: Sendable {
    /// mkdir; EEXIST is an error here (callers decide).
    func makeDirectory(_ path: String) throws(SystemError)
    /// rmdir; true when the directory is gone (removed now or absent).
    func removeDirectory(_ path: String) -> Bool
    /// One write(2) of a control value, as the kernel expects.
    func write(_ path: String, _ value: String) throws(SystemError)
    func read(_ path: String) -> [UInt8]?
    func exists(_ path: String) -> Bool
    /// Sends a signal (to kill what a cgroup holds).
    func kill(_ pid: pid_t, _ signal: Int32)
}

public struct KernelCgroupFileSystem: CgroupFileSystem {
    public init() {}

    public func makeDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o755) != 0 { throw SystemError.current("mkdir(\(path))") }
    }

    public func removeDirectory(_ path: String) -> Bool {
        rmdir(path) == 0 || Glibc.errno == ENOENT
    }

    public func write(_ path: String, _ value: String) throws(SystemError) {
        try Files.writeControl(path, value)
    }

    public func read(_ path: String) -> [UInt8]? {
        try? Files.read(path, limit: 1 << 20)
    }

    public func exists(_ path: String) -> Bool {
        Files.exists(path)
    }

    public func kill(_ pid: pid_t, _ signal: Int32) {
        _ = Glibc.kill(pid, signal)
    }
}
