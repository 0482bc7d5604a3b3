import FoundationEssentials
import Glibc
import WardenSystem

/// `owner.json`: which process owns an agent's sandbox, and the sandbox's pid 1, each by pid
/// and start time. A restarted supervisor reads it to tell a live agent from a lost one, and
/// to kill a sandbox whose owner is gone (R17).
public struct OwnerRecord: Codable, Sendable, Equatable {
    public var owner: ProcessIdentity
    public var sandbox: ProcessIdentity?

    public init(owner: ProcessIdentity, sandbox: ProcessIdentity? = nil) {
        self.owner = owner
        self.sandbox = sandbox
    }

    public static func read(_ path: String) -> OwnerRecord? {
        guard let bytes = try? Files.read(path, limit: 4096) else { return nil }
        return try? JSONDecoder().decode(OwnerRecord.self, from: Data(bytes))
    }

    public func write(_ path: String) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { throw SystemError(errno: EINVAL, step: "encode \(path)") }
        try Files.writeAtomically(path, Array(data), mode: 0o600)
    }
}
