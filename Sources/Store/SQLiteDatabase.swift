import CSQLite

/// One SQLite connection through the C API: the only file that imports CSQLite. Statements
/// are prepared, bound and finalized here; callers see Swift values and `StoreError`s that
/// name the step and keep SQLite's message. Not shared between threads (one per store).
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    let path: String

    /// Opens (or, when `create`, creates) the database. Symlinks at the path are refused: the
    /// store must be the file it claims to be.
    init(path: String, readOnly: Bool, create: Bool) throws(StoreError) {
        self.path = path
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        flags |= SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw StoreError(.unavailable, "open the store \(path): \(message)", sqliteCode: status)
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 5_000)
        if !readOnly {
            // Keep the -wal and -shm files when the last writer closes: a reader that may not
            // write the directory (a member reading a root-owned store) can open a WAL
            // database only while they exist.
            var persist: Int32 = 1
            sqlite3_file_control(handle, "main", SQLITE_FCNTL_PERSIST_WAL, &persist)
        }
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Runs statements that return no rows.
    func execute(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        guard status == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error \(status)"
            sqlite3_free(message)
            throw error(status, "\(sql.prefix(60))", text)
        }
    }

    /// Runs one statement with `bindings`, returning every row.
    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue] = []) throws(StoreError) -> [[SQLValue]] {
        var statement: OpaquePointer?
        let prepared = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard prepared == SQLITE_OK, let statement else { throw error(prepared, "prepare \(sql.prefix(60))") }
        defer { sqlite3_finalize(statement) }
        for (index, value) in bindings.enumerated() {
            let position = Int32(index + 1)
            let status: Int32 = switch value {
            case .null: sqlite3_bind_null(statement, position)
            case .integer(let number): sqlite3_bind_int64(statement, position, number)
            case .text(let text): sqlite3_bind_text(statement, position, text, -1, sqliteTransient)
            }
            guard status == SQLITE_OK else { throw error(status, "bind \(sql.prefix(60))") }
        }
        var rows: [[SQLValue]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw error(status, "step \(sql.prefix(60))") }
            var row: [SQLValue] = []
            for column in 0..<sqlite3_column_count(statement) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_NULL: row.append(.null)
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                default:
                    let text = sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
                    row.append(.text(text))
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` in one IMMEDIATE transaction (the write lock is taken at BEGIN, so two
    /// writers never both read the old version and both commit); any error rolls back.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// A statement prepared once and run many times (the audit log's batch insert).
    func prepare(_ sql: String) throws(StoreError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let prepared = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard prepared == SQLITE_OK, let statement else { throw error(prepared, "prepare \(sql.prefix(60))") }
        return SQLiteStatement(statement, database: self, sql: sql)
    }

    /// Runs a prepared statement once with `bindings` (no rows expected) and resets it. Every
    /// parameter is bound each time, so nothing is cleared in between.
    func run(_ statement: SQLiteStatement, _ bindings: [SQLValue]) throws(StoreError) {
        let raw = statement.raw
        defer { sqlite3_reset(raw) }
        for (index, value) in bindings.enumerated() {
            let position = Int32(index + 1)
            let status: Int32 = switch value {
            case .null: sqlite3_bind_null(raw, position)
            case .integer(let number): sqlite3_bind_int64(raw, position, number)
            case .text(let text): Self.bind(text, raw, position)
            }
            guard status == SQLITE_OK else { throw error(status, "bind \(statement.sql.prefix(60))") }
        }
        let status = sqlite3_step(raw)
        guard status == SQLITE_DONE || status == SQLITE_ROW else { throw error(status, "step \(statement.sql.prefix(60))") }
    }

    /// Binds a string from its own UTF-8 storage (SQLite copies it), without the C-string copy
    /// an implicit conversion makes.
    private static func bind(_ text: String, _ statement: OpaquePointer, _ position: Int32) -> Int32 {
        var text = text
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return sqlite3_bind_text(statement, position, "", 0, sqliteTransient) }
            return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                sqlite3_bind_text(statement, position, $0, Int32(bytes.count), sqliteTransient)
            }
        }
    }

    private func error(_ status: Int32, _ step: String, _ detail: String? = nil) -> StoreError {
        let message = detail ?? handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(status)"
        let primary = status & 0xFF
        let code: StoreError.Code = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? .corrupt : .unavailable
        return StoreError(code, "\(step) in \(path): \(message)", sqliteCode: status)
    }
}

/// A prepared statement, finalized when released. Belongs to the connection that made it.
final class SQLiteStatement {
    fileprivate let raw: OpaquePointer
    fileprivate let sql: String
    // Keeps the connection open while the statement lives (sqlite3_close_v2 would defer anyway).
    private let database: SQLiteDatabase

    fileprivate init(_ raw: OpaquePointer, database: SQLiteDatabase, sql: String) {
        self.raw = raw
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(raw) }
}

/// A value bound to or read from SQLite.
enum SQLValue: Equatable {
    case null
    case integer(Int64)
    case text(String)

    var integer: Int64? { if case .integer(let value) = self { return value } else { return nil } }
    var text: String? { if case .text(let value) = self { return value } else { return nil } }
}

/// SQLITE_TRANSIENT: SQLite copies the bound text before the call returns (the C macro is a
/// cast Swift cannot import).
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
