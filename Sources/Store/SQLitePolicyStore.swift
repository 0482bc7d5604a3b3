import FoundationEssentials
import Policy

/// The policy store in SQLite (WAL, synchronous=FULL): every version kept whole, as JSON,
/// with its change list; refused and granted decisions beside them. Versions are never
/// updated or deleted: a rollback writes a new version equal to an old one.
public final class SQLitePolicyStore: PolicyStore {
    /// The schema this build writes; older stores are migrated forward on open.
    public static let schemaVersion = 2
    private let database: SQLiteDatabase

    /// Opens the store at `path`. `create`: make it (and migrate) when missing. A store
    /// written by a newer Warden is refused rather than misread.
    public init(path: String, readOnly: Bool = false, create: Bool = true) throws(StoreError) {
        database = try SQLiteDatabase(path: path, readOnly: readOnly, create: create)
        if !readOnly {
            try database.execute("PRAGMA foreign_keys = ON")
            try database.execute("PRAGMA synchronous = FULL")
        }
        let version = try database.query("PRAGMA user_version").first?.first?.integer ?? 0
        guard version <= Self.schemaVersion else {
            throw StoreError(.newerSchema, "\(path) has schema version \(version); this Warden knows up to \(Self.schemaVersion)")
        }
        if version < Self.schemaVersion {
            // An existing file with no schema at all (empty, or cut to nothing) is not a store
            // to quietly start afresh in: only a file this call creates is.
            guard version > 0 || (create && !readOnly) else {
                throw StoreError(.corrupt, "\(path) is not a Warden policy store (no schema); move it aside if it is not needed")
            }
            guard !readOnly else { throw StoreError(.outdated, "\(path) has schema version \(version) and needs an upgrade, which needs write access") }
            try migrate(from: Int(version))
        }
        // A file that opened but is not a database has failed at `user_version` above.
    }

    /// Schema changes by version, applied in one transaction each.
    private static let migrations: [String] = [
        """
        CREATE TABLE policy_versions (
            version INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            actor_uid INTEGER NOT NULL,
            actor TEXT NOT NULL,
            command TEXT NOT NULL,
            document TEXT NOT NULL
        );
        CREATE TABLE policy_changes (
            version INTEGER NOT NULL REFERENCES policy_versions(version),
            key TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT
        );
        CREATE INDEX policy_changes_version ON policy_changes(version);
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time INTEGER NOT NULL,
            actor_uid INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            allowed INTEGER NOT NULL,
            rule TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        """,
        // 2: every key's value per version (filled for existing versions by `backfill`; IF NOT
        // EXISTS because development builds of schema 1 already had it).
        """
        CREATE TABLE IF NOT EXISTS policy_settings (
            version INTEGER NOT NULL REFERENCES policy_versions(version),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (version, key)
        ) WITHOUT ROWID;
        """,
    ]

    private func migrate(from version: Int) throws(StoreError) {
        // WAL is a property of the file: set once, when the schema is first written.
        if version == 0 { try database.execute("PRAGMA journal_mode = WAL") }
        for (index, sql) in Self.migrations.enumerated() where index >= version {
            try database.transaction { () throws(StoreError) in
                try database.execute(sql)
                if index == 1 { try backfillSettings() }
                try database.execute("PRAGMA user_version = \(index + 1)")
            }
        }
    }

    /// Writes the settings rows of versions stored before schema 2.
    private func backfillSettings() throws(StoreError) {
        for row in try database.query("SELECT version FROM policy_versions") {
            guard let number = row[0].integer, let stored = try version(Int(number)) else { continue }
            try insertSettings(of: stored.policy, version: number, replacing: true)
        }
    }

    private func insertSettings(of policy: OrgPolicy, version: Int64, replacing: Bool = false) throws(StoreError) {
        for (key, value) in PolicySettings.flatten(policy) {
            try database.query("INSERT \(replacing ? "OR REPLACE " : "")INTO policy_settings (version, key, value) VALUES (?, ?, ?)", [.integer(version), .text(key), .text(value)])
        }
    }

    public func current() throws(StoreError) -> StoredPolicy? {
        guard let row = try database.query("SELECT version FROM policy_versions ORDER BY version DESC LIMIT 1").first,
              let number = row[0].integer else { return nil }
        return try version(Int(number))
    }

    public func version(_ number: Int) throws(StoreError) -> StoredPolicy? {
        let rows = try database.query(
            "SELECT version, time, actor_uid, actor, command, document FROM policy_versions WHERE version = ?", [.integer(Int64(number))])
        guard let row = rows.first else { return nil }
        var info = try Self.info(row)
        info.changes = try changes(of: number)
        guard let text = row[5].text else { throw StoreError(.corrupt, "version \(number) has no document") }
        let policy: OrgPolicy
        do {
            policy = try JSONDecoder().decode(OrgPolicy.self, from: Data(text.utf8))
        } catch {
            throw StoreError(.corrupt, "version \(number) does not decode: \(error)")
        }
        return StoredPolicy(version: number, policy: policy, info: info)
    }

    public func history(limit: Int) throws(StoreError) -> [PolicyVersionInfo] {
        let rows = try database.query(
            "SELECT version, time, actor_uid, actor, command FROM policy_versions ORDER BY version DESC LIMIT ?", [.integer(Int64(limit))])
        var result: [PolicyVersionInfo] = []
        for row in rows {
            var info = try Self.info(row)
            info.changes = try changes(of: info.version)
            result.append(info)
        }
        return result
    }

    public func commit(_ policy: OrgPolicy, basedOn: Int, by actor: Actor, command: String,
                       changes: [SettingChange], at time: Int64) throws(StoreError) -> Int {
        let document: String
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            document = String(decoding: try encoder.encode(policy), as: UTF8.self)
        } catch {
            throw StoreError(.corrupt, "encode the policy: \(error)")
        }
        let next = try database.transaction { () throws(StoreError) -> Int in
            let latest = try database.query("SELECT coalesce(max(version), 0) FROM policy_versions").first?.first?.integer ?? 0
            guard latest == Int64(basedOn) else {
                throw StoreError(.conflict, "the policy changed (now version \(latest), this change was made against \(basedOn)); nothing was written, run the command again")
            }
            let next = latest + 1
            try database.query("INSERT INTO policy_versions (version, time, actor_uid, actor, command, document) VALUES (?, ?, ?, ?, ?, ?)",
                               [.integer(next), .integer(time), .integer(Int64(actor.uid)), .text(actor.name), .text(command), .text(document)])
            // Every key's value, so a reader that needs a few settings (the launch path of
            // `warden run`) reads rows instead of decoding the whole document.
            try insertSettings(of: policy, version: next)
            for change in changes {
                try database.query("INSERT INTO policy_changes (version, key, old_value, new_value) VALUES (?, ?, ?, ?)",
                                   [.integer(next), .text(change.key), change.old.map(SQLValue.text) ?? .null, change.new.map(SQLValue.text) ?? .null])
            }
            return Int(next)
        }
        // Readers (every `warden run`) read the database file, not a long WAL: fold it in now.
        try? database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return next
    }

    public func latestSettings(prefixes: [String]) throws(StoreError) -> (version: Int, values: [(key: String, value: String)])? {
        guard let latest = try database.query("SELECT max(version) FROM policy_versions").first?.first?.integer else { return nil }
        var values: [(key: String, value: String)] = []
        for prefix in prefixes {
            // Keys are ASCII; the range [prefix, prefix + U+FFFF) is the prefix's rows, by the index.
            for row in try database.query("SELECT key, value FROM policy_settings WHERE version = ? AND key >= ? AND key < ?",
                                          [.integer(latest), .text(prefix), .text(prefix + "\u{FFFF}")]) {
                guard let key = row[0].text, let value = row[1].text else { throw StoreError(.corrupt, "a settings row has missing fields") }
                values.append((key, value))
            }
        }
        return (Int(latest), values)
    }

    public func record(_ decision: DecisionRecord) throws(StoreError) {
        try database.query("INSERT INTO decisions (time, actor_uid, actor, action, allowed, rule, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [.integer(decision.time), .integer(Int64(decision.actor.uid)), .text(decision.actor.name), .text(decision.action),
                            .integer(decision.decision.allowed ? 1 : 0), .text(decision.decision.rule), .text(decision.decision.reason)])
    }

    public func decisions(limit: Int) throws(StoreError) -> [DecisionRecord] {
        try database.query("SELECT id, time, actor_uid, actor, action, allowed, rule, reason FROM decisions ORDER BY id DESC LIMIT ?",
                           [.integer(Int64(limit))]).map { row throws(StoreError) in
            guard let id = row[0].integer, let time = row[1].integer, let uid = row[2].integer, let actor = row[3].text,
                  let action = row[4].text, let allowed = row[5].integer, let rule = row[6].text, let reason = row[7].text else {
                throw StoreError(.corrupt, "a decision row has missing fields")
            }
            return DecisionRecord(id: id, time: time, actor: Actor(uid: UInt32(truncatingIfNeeded: uid), name: actor), action: action,
                                  decision: Decision(allowed: allowed != 0, rule: rule, reason: reason))
        }
    }

    private func changes(of version: Int) throws(StoreError) -> [SettingChange] {
        try database.query("SELECT key, old_value, new_value FROM policy_changes WHERE version = ? ORDER BY rowid", [.integer(Int64(version))]).map {
            SettingChange(key: $0[0].text ?? "", old: $0[1].text, new: $0[2].text)
        }
    }

    private static func info(_ row: [SQLValue]) throws(StoreError) -> PolicyVersionInfo {
        guard let version = row[0].integer, let time = row[1].integer, let uid = row[2].integer, let actor = row[3].text,
              let command = row[4].text else {
            throw StoreError(.corrupt, "a version row has missing fields")
        }
        return PolicyVersionInfo(version: Int(version), time: time, actor: Actor(uid: UInt32(truncatingIfNeeded: uid), name: actor),
                                 command: command, changes: [])
    }
}
