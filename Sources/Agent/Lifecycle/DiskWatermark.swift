import Glibc
import Policy

/// R19: Warden stops taking on work before its disk fills. No agent starts, and no environment
/// snapshot is built, while the file system holding Warden's home has less free space than the
/// policy's `sandbox.minFreeDisk` (logs are capped per agent, and audit writes fail closed).
enum DiskWatermark {
    /// Why there is not enough space, or nil when there is. A disk that cannot be measured
    /// counts as full (fail closed).
    static func shortfall(home: String, minimum: ByteSize) -> String? {
        var info = statvfs()
        guard statvfs(home, &info) == 0 else {
            return "the free space of the disk holding \(home) cannot be measured (\(String(cString: strerror(errno))))"
        }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        guard free < minimum.bytes else { return nil }
        return "the disk holding \(home) has \(ByteSize(bytes: free)) free, under the policy's watermark (sandbox.minFreeDisk \(minimum))"
    }
}
