import CWardenShim
import Glibc

/// openat2's RESOLVE_* flags: how a path through a tree someone else controls may be walked
/// (R14). Named once here so that no call site spells the kernel's numbers.
public struct Resolve: OptionSet, Sendable {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Stay on the starting mount.
    public static let noCrossingMounts = Resolve(rawValue: 0x01)
    public static let noMagicLinks = Resolve(rawValue: 0x02)
    public static let noSymlinks = Resolve(rawValue: 0x04)
    /// Stay below the starting directory ("..", absolute paths and links may not leave it).
    public static let beneath = Resolve(rawValue: 0x08)
    /// No link of any kind is followed.
    public static let noLinks: Resolve = [.noSymlinks, .noMagicLinks]
}

/// O_PATH, which the Glibc module does not export to Swift.
public let openPathOnly: Int32 = 0o10000000

extension FileDescriptor {
    /// openat2 relative to `directory` (AT_FDCWD for the working directory), O_CLOEXEC added.
    /// The thrown error carries the errno (ENOENT, ELOOP, EXDEV...) for callers that tell
    /// those apart.
    public static func open(at directory: Int32 = AT_FDCWD, _ path: String, _ flags: Int32, resolve: Resolve) throws(SystemError) -> FileDescriptor {
        try open(at: directory, rawPath: Array(path.utf8CString), flags, resolve: resolve, shown: path)
    }

    /// `open(at:_:_:resolve:)` for a path given as NUL-terminated bytes, which need not be UTF-8.
    public static func open(at directory: Int32 = AT_FDCWD, rawPath: [CChar], _ flags: Int32, resolve: Resolve,
                            shown: String? = nil) throws(SystemError) -> FileDescriptor {
        let fd = rawPath.withUnsafeBufferPointer { wd_openat2(directory, $0.baseAddress, UInt64(flags | O_CLOEXEC), 0, resolve.rawValue) }
        guard fd >= 0 else { throw SystemError.current("open(\(shown ?? Files.displayName(rawPath)))") }
        return FileDescriptor(fd)
    }
}
