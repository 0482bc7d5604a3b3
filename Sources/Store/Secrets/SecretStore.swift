import Glibc
import WardenSystem

/// Who a secret belongs to: a user's own, or the organisation's (set by admins).
public enum SecretScope: String, Sendable, Codable, CaseIterable {
    case user, org
}

/// A secret's identity and the hosts it may be sent to (R18); never its value.
public struct SecretInfo: Sendable, Equatable, Codable {
    public var scope: SecretScope
    /// The owning Warden user for `.user`; empty for `.org`.
    public var owner: String
    public var name: String
    /// Only agents on this repository get it; empty: every repository.
    public var repository: String
    public var hosts: [String]
    public var updated: Int64

    public init(scope: SecretScope, owner: String, name: String, repository: String, hosts: [String], updated: Int64 = 0) {
        self.scope = scope
        self.owner = owner
        self.name = name
        self.repository = repository
        self.hosts = hosts
        self.updated = updated
    }
}

/// Secrets at rest (`secrets.db`, 0600): each value sealed with AES-256-GCM under the key the
/// provider gives, bound to its scope, owner, name, repository and hosts. Nothing in the file
/// is the value in clear, and a row edited to reach other hosts no longer opens.
public final class SecretStore {
    public static let schemaVersion = 1
    public static func path(home: String) -> String { home + "/secrets.db" }

    private let database: SQLiteDatabase
    private let cipher: SecretCipher

    public init(path: String, keys: any SecretKeyProvider) throws(StoreError) {
        cipher = try SecretCipher(key: try keys.key())
        database = try SQLiteStoreFile.open(path: path, kind: "secret store", schema: Self.schema, version: Self.schemaVersion,
                                            readOnly: false, create: true)
    }

    private static let schema = """
        CREATE TABLE secrets (
            scope TEXT NOT NULL,
            owner TEXT NOT NULL,
            repository TEXT NOT NULL,
            name TEXT NOT NULL,
            hosts TEXT NOT NULL,
            sealed TEXT NOT NULL,
            updated INTEGER NOT NULL,
            PRIMARY KEY (scope, owner, repository, name)
        );
        """

    /// What the seal authenticates besides the value.
    static func associated(_ info: SecretInfo) -> [UInt8] {
        Array((["warden-secret-v1", info.scope.rawValue, info.owner, info.repository, info.name] + info.hosts).joined(separator: "\u{0}").utf8)
    }

    /// Adds or replaces a secret. Returns true when it replaced one.
    @discardableResult
    public func set(_ info: SecretInfo, value: [UInt8]) throws(StoreError) -> Bool {
        let sealed = try cipher.seal(value, associated: Self.associated(info))
        return try database.transaction { () throws(StoreError) -> Bool in
            let existed = try database.query("SELECT count(*) FROM secrets WHERE scope = ? AND owner = ? AND repository = ? AND name = ?",
                                             [.text(info.scope.rawValue), .text(info.owner), .text(info.repository), .text(info.name)]).first?.first?.integer ?? 0
            _ = try database.query("INSERT OR REPLACE INTO secrets (scope, owner, repository, name, hosts, sealed, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   [.text(info.scope.rawValue), .text(info.owner), .text(info.repository), .text(info.name),
                                    .text(info.hosts.joined(separator: ",")), .text(hexString(sealed)), .integer(info.updated)])
            return existed > 0
        }
    }

    /// Secrets visible to `owner`: theirs and the organisation's (all when `owner` is nil).
    public func list(owner: String?) throws(StoreError) -> [SecretInfo] {
        let rows: [[SQLValue]]
        if let owner {
            rows = try database.query("SELECT scope, owner, repository, name, hosts, updated FROM secrets WHERE scope = 'org' OR owner = ? ORDER BY scope, owner, name, repository",
                                      [.text(owner)])
        } else {
            rows = try database.query("SELECT scope, owner, repository, name, hosts, updated FROM secrets ORDER BY scope, owner, name, repository")
        }
        var result: [SecretInfo] = []
        for row in rows {
            guard row.count == 6, let scope = row[0].text.flatMap(SecretScope.init(rawValue:)), let owner = row[1].text, let repository = row[2].text,
                  let name = row[3].text, let hosts = row[4].text, let updated = row[5].integer else {
                throw StoreError(.corrupt, "a secrets row has a missing or mistyped field")
            }
            result.append(SecretInfo(scope: scope, owner: owner, name: name, repository: repository,
                                     hosts: hosts.split(separator: ",").map(String.init), updated: updated))
        }
        return result
    }

    /// Removes one secret; false when there was none.
    public func remove(scope: SecretScope, owner: String, name: String, repository: String) throws(StoreError) -> Bool {
        try database.transaction { () throws(StoreError) -> Bool in
            let bindings: [SQLValue] = [.text(scope.rawValue), .text(owner), .text(repository), .text(name)]
            let existed = try database.query("SELECT count(*) FROM secrets WHERE scope = ? AND owner = ? AND repository = ? AND name = ?", bindings).first?.first?.integer ?? 0
            _ = try database.query("DELETE FROM secrets WHERE scope = ? AND owner = ? AND repository = ? AND name = ?", bindings)
            return existed > 0
        }
    }

    /// The value of one secret, opened (for the sandbox that is given it).
    public func value(of info: SecretInfo) throws(StoreError) -> [UInt8] {
        let rows = try database.query("SELECT sealed FROM secrets WHERE scope = ? AND owner = ? AND repository = ? AND name = ?",
                                      [.text(info.scope.rawValue), .text(info.owner), .text(info.repository), .text(info.name)])
        guard let text = rows.first?.first?.text, let sealed = bytes(fromHex: text) else { throw StoreError(.notFound, "no secret \(info.name)") }
        return try cipher.open(sealed, associated: Self.associated(info))
    }
}
