import CWardenShim
import Glibc

/// When a file's inode last changed and when it was made, by statx without following a final
/// symlink.
///
/// Why: ctime cannot be set by any unprivileged caller (utimensat sets only atime and mtime), so
/// comparing it with a clock reading tells what changed after that reading — even what a
/// sandboxed process took care to back-date.
public struct FileTimes: Sendable, Equatable {
    public let device: UInt64
    public let inode: UInt64
    public let mode: mode_t
    public let changedNanoseconds: Int64
    /// nil where the file system does not record creation times.
    public let createdNanoseconds: Int64?

    public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    public var isRegular: Bool { mode & S_IFMT == S_IFREG }

    /// nil when `name` does not exist (or cannot be examined).
    public init?(in directory: FileDescriptor, rawName: [CChar]) {
        var times = wd_file_times()
        guard wd_file_times(directory.raw, rawName, &times) == 0 else { return nil }
        device = times.dev
        inode = times.ino
        mode = mode_t(times.mode)
        changedNanoseconds = times.ctime_sec * 1_000_000_000 + times.ctime_nsec
        createdNanoseconds = times.has_btime != 0 ? times.btime_sec * 1_000_000_000 + times.btime_nsec : nil
    }

    public init?(in directory: FileDescriptor, _ name: String) {
        self.init(in: directory, rawName: Array(name.utf8CString))
    }

    /// True when the inode changed, or was made, at or after `instant` (see `coarseNow`).
    public func changed(since instant: Int64) -> Bool {
        changedNanoseconds >= instant || (createdNanoseconds ?? Int64.min) >= instant
    }

    /// The clock the kernel stamps ctime from: any change after this call carries a ctime at
    /// or after what it returns.
    public static func coarseNow() -> Int64 { wd_coarse_realtime_ns() }
}
