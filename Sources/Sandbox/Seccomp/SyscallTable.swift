import CSeccomp
import Glibc

/// Syscall names and numbers of the native architecture, from libseccomp's tables.
public enum SyscallTable {
    /// The native syscall number of `name`, or nil when this architecture has no such call.
    public static func number(of name: String) -> Int32? {
        let nr = seccomp_syscall_resolve_name_arch(wd_scmp_arch_native(), name)
        return nr >= 0 ? nr : nil
    }

    /// The name of syscall `nr` on `arch` (an AUDIT_ARCH value as reported by the kernel).
    public static func name(of nr: Int32, arch: UInt32 = 0) -> String? {
        guard let raw = seccomp_syscall_resolve_num_arch(arch, nr) else { return nil }
        defer { free(raw) }
        return String(cString: raw)
    }

    /// Every syscall of the native architecture (number, name).
    public static let all: [(nr: Int32, name: String)] = {
        var result: [(Int32, String)] = []
        for nr in Int32(0)..<1024 {
            if let name = name(of: nr) { result.append((nr, name)) }
        }
        return result
    }()

    /// The architecture name Docker profiles use in `includes.arches` ("amd64", "arm64").
    public static var nativeGoArch: String {
        switch Host.machineName {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case let other: return other
        }
    }

    /// The native AUDIT_ARCH value, as the kernel reports it in seccomp data (SCMP_ARCH_NATIVE
    /// itself is the token 0).
    public static let nativeArch: UInt32 = seccomp_arch_native()

    /// A readable architecture name for an AUDIT_ARCH value.
    public static func archName(_ arch: UInt32) -> String {
        switch arch {
        case wd_scmp_arch_x86_64(): return "x86_64"
        case wd_scmp_arch_x86(): return "i386"
        case wd_scmp_arch_x32(): return "x32"
        case wd_scmp_arch_aarch64(): return "aarch64"
        case wd_scmp_arch_arm(): return "arm"
        default: return "arch-0x\(String(arch, radix: 16))"
        }
    }

    /// libseccomp's version, e.g. "2.5.4".
    public static var libraryVersion: String {
        guard let version = seccomp_version() else { return "unknown" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)"
    }
}

import WardenSystem

extension Host {
    static var machineName: String { Host.machine }
}
