import FoundationEssentials
import WardenSystem

/// The key behind the audit log's checkpoints and exported heads (R26). Its file is 32 random
/// bytes, root-only and kept apart from the database (default /etc/warden/audit.key; the
/// environment's WARDEN_AUDIT_KEY names another), so whoever can write audit.db alone cannot
/// forge a checkpoint: rewriting the chain or cutting its tail shows. Made on first use. The
/// MAC key is derived from the file's bytes for this one purpose.
public struct AuditKey: Sendable {
    public static let systemPath = "/etc/warden/audit.key"
    private let macKey: [UInt8]
    /// Where the newest checkpoint is restated, beside the key and outside the home (root's,
    /// 0600): a head exported automatically, so deleting the newest checkpoints with the tail
    /// shows without any file kept by hand. Nil: none (tests).
    public let anchorPath: String?

    public init(fileBytes: [UInt8], anchorPath: String? = nil) {
        macKey = HMACSHA256.mac(key: fileBytes, Array("warden audit checkpoints v1".utf8))
        self.anchorPath = anchorPath
    }

    /// The anchor as last saved, if any (a file that does not parse is reported by `verify`
    /// as not genuine).
    public func anchor() -> AuditHead? {
        guard let anchorPath, let bytes = try? Files.read(anchorPath, limit: 1 << 16) else { return nil }
        return (try? JSONDecoder().decode(AuditHead.self, from: Data(bytes)))
            ?? AuditHead(sequence: 0, hash: "", time: 0, mac: "unreadable")
    }

    func saveAnchor(_ head: AuditHead) throws(StoreError) {
        guard let anchorPath else { return }
        guard let data = try? JSONEncoder().encode(head) else { throw StoreError(.unavailable, "the audit anchor cannot be encoded") }
        do { try Files.writeAtomically(anchorPath, Array(data), mode: 0o600) } catch {
            throw StoreError(.unavailable, "the audit anchor \(anchorPath) cannot be written: \(error.description)")
        }
    }

    /// The key file's path: WARDEN_AUDIT_KEY, else the system path.
    public static func path() -> String {
        if let path = Host.environment("WARDEN_AUDIT_KEY"), !path.isEmpty { return path }
        return systemPath
    }

    /// Reads (or makes) the key file; refused inside the home, readable by others, or not root's.
    public static func load(home: String, path: String = AuditKey.path()) throws(StoreError) -> AuditKey {
        let bytes = try KeyFileProvider(path: path, home: home, what: "audit key").key()
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let canonical = (try? Files.canonicalPath(home)) ?? home
        return AuditKey(fileBytes: bytes, anchorPath: directory + "/audit-anchor-" + String(SHA256.hex(Array(canonical.utf8)).prefix(16)) + ".json")
    }

    /// Hex HMAC of `fields`, each length-prefixed so no two field lists encode alike.
    public func mac(_ purpose: String, _ fields: [String]) -> String {
        var message = Array("\(purpose)\0".utf8)
        for field in fields { message += Array("\(field.utf8.count):".utf8) + Array(field.utf8) }
        return hexString(HMACSHA256.mac(key: macKey, message))
    }

    public func check(_ purpose: String, _ fields: [String], mac: String) -> Bool {
        guard let given = bytes(fromHex: mac), let expected = bytes(fromHex: self.mac(purpose, fields)) else { return false }
        return HMACSHA256.equal(given, expected)
    }
}

/// A keyed statement of the chain at one point: record `sequence` has hash `hash`, and the kept
/// chain then began at `firstSequence`, chained from `anchorHash` (genesis, or the hash of the
/// last record a retention purge removed). Written at intervals, at every clean stop of a
/// writer, and by each purge.
public struct AuditCheckpoint: Sendable, Equatable, Codable {
    public var id: Int64
    public var sequence: Int64
    public var hash: String
    public var time: Int64
    /// interval, stop, purge.
    public var reason: String
    public var firstSequence: Int64
    public var anchorHash: String
    public var mac: String

    public static let purpose = "checkpoint"

    var macFields: [String] { [String(sequence), hash, String(time), reason, String(firstSequence), anchorHash] }

    public func isGenuine(_ key: AuditKey) -> Bool { key.check(Self.purpose, macFields, mac: mac) }
}

/// A chain head as exported by `warden audit head`: kept elsewhere (another machine, a ticket,
/// a SIEM), it later proves that the log held record `sequence` with hash `hash`, so a cut tail
/// shows even when every checkpoint after it was cut too.
public struct AuditHead: Sendable, Equatable, Codable {
    public var format = "warden-audit-head-v1"
    public var sequence: Int64
    public var hash: String
    public var time: Int64
    public var mac: String

    public static let purpose = "head"

    init(sequence: Int64, hash: String, time: Int64, mac: String) {
        self.sequence = sequence
        self.hash = hash
        self.time = time
        self.mac = mac
    }

    public init(sequence: Int64, hash: String, time: Int64, key: AuditKey) {
        self.sequence = sequence
        self.hash = hash
        self.time = time
        mac = key.mac(Self.purpose, [String(sequence), hash, String(time)])
    }

    public func isGenuine(_ key: AuditKey) -> Bool { key.check(Self.purpose, [String(sequence), hash, String(time)], mac: mac) }
}
