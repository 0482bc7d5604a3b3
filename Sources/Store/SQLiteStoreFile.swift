import Glibc
import WardenSystem

/// Opens one of Warden's single-schema SQLite files (audit log, secrets): created 0600 if
/// absent, WAL with synchronous=FULL for writers, the schema installed in one transaction on
/// an empty file, and refused when it is someone else's file or a newer Warden's.
enum SQLiteStoreFile {
    /// `migrations[n]`: the SQL that takes a file from version n to n + 1.
    static func open(path: String, kind: String, schema: String, version: Int, readOnly: Bool, create: Bool,
                     migrations: [Int: String] = [:]) throws(StoreError) -> SQLiteDatabase {
        if create && !readOnly && Files.lstat(path) == nil {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 || errno == EEXIST else {
                throw StoreError(.unavailable, "create the \(kind) \(path): \(errnoDescription(errno))")
            }
            if fd >= 0 { Glibc.close(fd) }
        }
        let database = try SQLiteDatabase(path: path, readOnly: readOnly, create: false)
        if !readOnly { try database.execute("PRAGMA synchronous = FULL") }
        let found = try database.query("PRAGMA user_version").first?.first?.integer ?? 0
        guard found <= version else {
            throw StoreError(.newerSchema, "\(path) has \(kind) schema version \(found); this Warden knows up to \(version)")
        }
        if found == 0 {
            guard !readOnly else { throw StoreError(.corrupt, "\(path) is not a Warden \(kind) (no schema)") }
            let tables = try database.query("SELECT count(*) FROM sqlite_master").first?.first?.integer ?? 0
            guard tables == 0 else { throw StoreError(.corrupt, "\(path) is not a Warden \(kind) (no schema version)") }
            try database.execute("PRAGMA journal_mode = WAL")
            try database.transaction { () throws(StoreError) in
                try database.execute(schema)
                try database.execute("PRAGMA user_version = \(version)")
            }
        } else if found < version {
            guard !readOnly else { throw StoreError(.unavailable, "\(path) has \(kind) schema version \(found); a writer upgrades it to \(version) first") }
            try database.transaction { () throws(StoreError) in
                // Read again under the write lock: another process may have upgraded it meanwhile.
                var current = Int(try database.query("PRAGMA user_version").first?.first?.integer ?? 0)
                while current < version {
                    guard let step = migrations[current] else { throw StoreError(.corrupt, "\(path): no upgrade from \(kind) schema version \(current)") }
                    try database.execute(step)
                    current += 1
                }
                try database.execute("PRAGMA user_version = \(version)")
            }
        }
        return database
    }
}
