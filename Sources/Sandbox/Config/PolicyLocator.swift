import Glibc
import WardenSystem

/// Finds the shipped policies (policies/seccomp/default.json): `WARDEN_POLICY_DIR`, then
/// `<prefix>/share/warden/policies` next to the installed binary, then the source tree the
/// binary was built in (for development and tests).
public enum PolicyLocator {
    public static func defaultSeccompProfile() throws(SandboxError) -> (bytes: [UInt8], source: String) {
        try seccompProfile(named: "default")
    }

    /// A shipped profile by name (policies/seccomp/NAME.json); the org policy names which.
    public static func seccompProfile(named name: String) throws(SandboxError) -> (bytes: [UInt8], source: String) {
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }) else {
            throw SandboxError(.invalidInput, "seccomp profile name \"\(name)\" is not a shipped profile name")
        }
        for directory in candidates() {
            let path = directory + "/seccomp/\(name).json"
            if let bytes = try? Files.read(path, limit: 4 << 20) { return (bytes, path) }
        }
        throw SandboxError(.setupFailed, "the seccomp profile policies/seccomp/\(name).json was not found; run `make install` or set WARDEN_POLICY_DIR")
    }

    public static func candidates() -> [String] {
        var result: [String] = []
        if let override = Host.environment("WARDEN_POLICY_DIR"), !override.isEmpty { result.append(override) }
        guard let executable = Files.readLink("/proc/self/exe") else { return result }
        var directory = String(executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)])
        result.append(directory + "/../share/warden/policies")
        for _ in 0..<5 {
            result.append(directory + "/policies")
            guard let slash = directory.lastIndex(of: "/"), directory != "/" else { break }
            directory = String(directory[..<slash])
            if directory.isEmpty { directory = "/" }
        }
        return result
    }
}
