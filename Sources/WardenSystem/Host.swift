import CWardenShim
import Glibc

/// Facts about the host and the calling process.
public enum Host {
    /// Kernel release, e.g. "6.18.44-fc-v595".
    public static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafePointer(to: name.release) {
            $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
        }
    }

    /// (major, minor) of the running kernel.
    public static var kernelVersion: (Int, Int) {
        parseKernelVersion(kernelRelease)
    }

    public static func parseKernelVersion(_ release: String) -> (Int, Int) {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return (numbers.first ?? 0, numbers.count > 1 ? numbers[1] : 0)
    }

    public static var machine: String {
        var name = utsname()
        uname(&name)
        return withUnsafePointer(to: name.machine) {
            $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
        }
    }

    /// The home directory of `uid` from /etc/passwd (no NSS: the launch path stays static).
    public static func homeDirectory(of uid: uid_t) -> String? {
        account(of: uid)?.home
    }

    /// The primary group and home directory of `uid` from /etc/passwd.
    public static func account(of uid: uid_t) -> (gid: UInt32, home: String)? {
        guard let passwd = try? Files.read("/etc/passwd", limit: 4 << 20) else { return nil }
        var found: (gid: UInt32, home: String)?
        LineFields(passwd).forEachLine(separator: UInt8(ascii: ":")) { fields in
            if fields.count >= 6, LineFields.number(fields[2]) == UInt64(uid) {
                if let gid = LineFields.number(fields[3]).flatMap(UInt32.init(exactly:)) { found = (gid, LineFields.string(fields[5])) }
                return false
            }
            return true
        }
        return found
    }

    /// The running program's GNU build ID, hex (nil when it has none): identifies the exact build,
    /// for caches of what this build computed.
    public static let buildID: String? = {
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = wd_build_id(&bytes, bytes.count)
        return count > 0 ? hexString(bytes[0..<count]) : nil
    }()

    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// Random bytes from getrandom(2), for identifiers.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { wd_getrandom($0.baseAddress! + filled, count - filled) }
            if n > 0 { filled += n } else if Glibc.errno != EINTR { break }
        }
        return bytes
    }

    /// Makes this process non-dumpable with no core files: its memory holds the caller's
    /// environment and, later, secrets (R18).
    public static func hardenSelf() {
        _ = wd_prctl(Int32(WD_PR_SET_DUMPABLE), 0, 0, 0, 0)
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
    }
}

/// Monotonic time in nanoseconds.
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Wall-clock time as an RFC 3339 UTC string, with milliseconds.
public func rfc3339Now() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Timestamp.text(Int64(ts.tv_sec), milliseconds: Int32(ts.tv_nsec / 1_000_000))
}

/// Wall-clock time in milliseconds since the epoch (record times).
public func wallMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
