import CWardenShim

/// Landlock, the second and independent file-system layer: rules that mirror the mount plan
/// (read-only system, read-write workspace and scratch space), at the best ABI the kernel
/// offers (R15). Landlock can only grant, so it cannot make .git/hooks read-only inside a
/// writable workspace (mounts do that); it is applied after every mount.
public struct LandlockPlan: Sendable {
    public struct Rule: Sendable, Equatable {
        public let path: String
        public let access: UInt64
    }

    public let abi: Int
    public let handledAccess: UInt64
    public let scoped: UInt64
    public let rules: [Rule]

    // Access rights (LANDLOCK_ACCESS_FS_*).
    public static let execute: UInt64 = 1 << 0
    public static let writeFile: UInt64 = 1 << 1
    public static let readFile: UInt64 = 1 << 2
    public static let readDir: UInt64 = 1 << 3
    public static let removeDir: UInt64 = 1 << 4
    public static let removeFile: UInt64 = 1 << 5
    public static let makeChar: UInt64 = 1 << 6
    public static let makeDir: UInt64 = 1 << 7
    public static let makeReg: UInt64 = 1 << 8
    public static let makeSock: UInt64 = 1 << 9
    public static let makeFifo: UInt64 = 1 << 10
    public static let makeBlock: UInt64 = 1 << 11
    public static let makeSym: UInt64 = 1 << 12
    public static let refer: UInt64 = 1 << 13        // ABI 2
    public static let truncate: UInt64 = 1 << 14     // ABI 3
    public static let ioctlDev: UInt64 = 1 << 15     // ABI 5
    // Scopes (ABI 6).
    public static let scopeAbstractUnixSocket: UInt64 = 1 << 0
    public static let scopeSignal: UInt64 = 1 << 1

    public static let readOnly = readFile | readDir | execute
    /// Everything a build needs in a writable tree. REFER is granted so cross-directory renames
    /// work (pip and npm fail with EXDEV without it, R15). No device nodes.
    public static let readWrite = readOnly | writeFile | removeDir | removeFile | makeDir | makeReg | makeSock
        | makeFifo | makeSym | refer | truncate
    /// /dev: read and write the bound nodes, terminal ioctls.
    public static let devices = readFile | writeFile | readDir | truncate | ioctlDev
    /// /proc: read, and write the process's own files.
    public static let proc = readFile | writeFile | readDir | truncate

    /// The ABI the kernel offers (0 when Landlock is unavailable or disabled).
    public static var kernelABI: Int { max(0, Int(wd_landlock_abi())) }

    /// Every access right the given ABI knows.
    public static func handled(abi: Int) -> UInt64 {
        var mask: UInt64 = (1 << 13) - 1
        if abi >= 2 { mask |= refer }
        if abi >= 3 { mask |= truncate }
        if abi >= 5 { mask |= ioctlDev }
        return mask
    }

    public static func scopes(abi: Int) -> UInt64 {
        abi >= 6 ? scopeAbstractUnixSocket | scopeSignal : 0
    }

    /// Rules for the sandbox's layout. `writable` and `readable` are extra bind targets.
    public static func make(abi: Int, workspace: String, home: String, writable: [String], readable: [String]) -> LandlockPlan {
        let handled = handled(abi: abi)
        var rules: [Rule] = [
            Rule(path: "/", access: readOnly),
            Rule(path: "/dev", access: devices),
            Rule(path: "/proc", access: proc),
        ]
        for path in [workspace, "/tmp", home, "/dev/shm"] + writable { rules.append(Rule(path: path, access: readWrite)) }
        for path in readable { rules.append(Rule(path: path, access: readOnly)) }
        return LandlockPlan(abi: abi, handledAccess: handled, scoped: scopes(abi: abi),
                            rules: rules.map { Rule(path: $0.path, access: $0.access & handled) })
    }

    /// Names of the scopes, for the manifest.
    public var scopeNames: [String] {
        var names: [String] = []
        if scoped & Self.scopeAbstractUnixSocket != 0 { names.append("abstract-unix-socket") }
        if scoped & Self.scopeSignal != 0 { names.append("signal") }
        return names
    }

    /// Names of the rights in a mask, for the manifest.
    public static func accessNames(_ mask: UInt64) -> [String] {
        let names = ["execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file", "make_char",
                     "make_dir", "make_reg", "make_sock", "make_fifo", "make_block", "make_sym", "refer",
                     "truncate", "ioctl_dev"]
        return names.enumerated().compactMap { mask & (1 << UInt64($0.offset)) != 0 ? $0.element : nil }
    }
}
