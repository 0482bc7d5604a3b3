import Glibc
import WardenSystem

/// Every agent and its history (`agents.db`, 0600). Transitions are checked against
/// `AgentState` inside a write transaction, so two processes (a supervisor and its restart, a
/// stop racing a finish) cannot both move an agent out of the same state.
public final class AgentStore {
    public static let schemaVersion = 1
    public static func path(home: String) -> String { home + "/agents.db" }

    private let database: SQLiteDatabase

    public init(path: String) throws(StoreError) {
        database = try SQLiteStoreFile.open(path: path, kind: "agent store", schema: Self.schema, version: Self.schemaVersion,
                                            readOnly: false, create: true)
    }

    /// The store in `home`, or nil before any agent was started there (reading never
    /// creates it).
    public static func existing(home: String) throws(StoreError) -> AgentStore? {
        let path = Self.path(home: home)
        return Files.lstat(path) == nil ? nil : try AgentStore(path: path)
    }

    private static let schema = """
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            owner TEXT NOT NULL,
            owner_uid INTEGER NOT NULL,
            repository TEXT NOT NULL,
            base_branch TEXT NOT NULL,
            branch TEXT NOT NULL,
            model TEXT NOT NULL,
            command TEXT NOT NULL,
            privacy INTEGER NOT NULL,
            policy_version INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            data_removed INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX agents_branch ON agents(repository, branch);
        CREATE TABLE agent_events (
            agent_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            time INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (agent_id, seq)
        );
        """

    private static let columns = "id, name, owner, owner_uid, repository, base_branch, branch, model, command, privacy, policy_version, state, reason, created, updated, data_removed"

    /// Adds a queued agent. Refused when its branch is already taken on that repository.
    public func create(_ record: AgentRecord) throws(StoreError) {
        guard record.state == .queued else { throw StoreError(.invalid, "a new agent starts queued, not \(record.state.rawValue)") }
        try database.transaction { () throws(StoreError) in
            let taken = try database.query("SELECT id FROM agents WHERE repository = ? AND branch = ?", [.text(record.repository), .text(record.branch)])
            if let other = taken.first?.first?.text {
                throw StoreError(.conflict, "agent \(other) already works on branch \(record.branch) of \(record.repository); choose another --name")
            }
            _ = try database.query("INSERT INTO agents (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", Self.bindings(record))
            try appendEvent(record.id, AgentEvent(time: record.created, state: .queued, reason: record.reason))
        }
    }

    /// Moves an agent to `next` if its current state allows it; returns the updated record.
    @discardableResult
    public func transition(_ id: String, to next: AgentState, reason: String, at time: Int64) throws(StoreError) -> AgentRecord {
        try database.transaction { () throws(StoreError) -> AgentRecord in
            guard var record = try fetch(id) else { throw StoreError(.notFound, "no agent \(id)") }
            guard record.state.mayBecome(next) else {
                throw StoreError(.conflict, "agent \(id) is \(record.state.rawValue) and cannot become \(next.rawValue)")
            }
            record.state = next
            record.reason = reason
            record.updated = time
            _ = try database.query("UPDATE agents SET state = ?, reason = ?, updated = ? WHERE id = ?",
                                   [.text(next.rawValue), .text(reason), .integer(time), .text(id)])
            try appendEvent(id, AgentEvent(time: time, state: next, reason: reason))
            return record
        }
    }

    public func get(_ id: String) throws(StoreError) -> AgentRecord? { try fetch(id) }

    /// Adds an event to an agent's history without changing its state: what happened along the
    /// way (an environment field this host cannot honour, content deleted for privacy).
    public func note(_ id: String, _ reason: String, at time: Int64) throws(StoreError) {
        try database.transaction { () throws(StoreError) in
            guard let record = try fetch(id) else { throw StoreError(.notFound, "no agent \(id)") }
            try appendEvent(id, AgentEvent(time: time, state: record.state, reason: reason))
        }
    }

    /// Records that an ended agent's data was deleted, and why (an event in its history; the
    /// state stays what it was).
    public func markDataRemoved(_ id: String, reason: String, at time: Int64) throws(StoreError) {
        try database.transaction { () throws(StoreError) in
            guard let record = try fetch(id) else { throw StoreError(.notFound, "no agent \(id)") }
            guard record.state.isTerminal else { throw StoreError(.conflict, "agent \(id) is \(record.state.rawValue); a live agent's data is never removed") }
            _ = try database.query("UPDATE agents SET data_removed = 1 WHERE id = ?", [.text(id)])
            try appendEvent(id, AgentEvent(time: time, state: record.state, reason: reason))
        }
    }

    public func history(_ id: String) throws(StoreError) -> [AgentEvent] {
        try database.query("SELECT time, state, reason FROM agent_events WHERE agent_id = ? ORDER BY seq", [.text(id)]).map { row throws(StoreError) in
            guard row.count == 3, let time = row[0].integer, let state = row[1].text.flatMap(AgentState.init(rawValue:)), let reason = row[2].text else {
                throw StoreError(.corrupt, "an agent event has a missing or mistyped field")
            }
            return AgentEvent(time: time, state: state, reason: reason)
        }
    }

    /// What `warden agent list` shows: newest first; `owner` limits to one user's agents, `state`
    /// to one state, `search` matches id, name, repository or branch (case-insensitive);
    /// without `includeEnded`, only agents not yet in a terminal state.
    public func list(owner: String? = nil, state: AgentState? = nil, search: String? = nil, includeEnded: Bool = false) throws(StoreError) -> [AgentRecord] {
        var conditions: [String] = []
        var bindings: [SQLValue] = []
        if let owner { conditions.append("owner = ?"); bindings.append(.text(owner)) }
        if let state { conditions.append("state = ?"); bindings.append(.text(state.rawValue)) } else if !includeEnded {
            conditions.append("state IN ('queued', 'preparing', 'running')")
        }
        if let search, !search.isEmpty {
            // LIKE's wildcards in the search text match themselves.
            var escaped = ""
            for character in search.lowercased() {
                if character == "\\" || character == "%" || character == "_" { escaped.append("\\") }
                escaped.append(character)
            }
            let pattern = "%" + escaped + "%"
            conditions.append("(lower(id) LIKE ? ESCAPE '\\' OR lower(name) LIKE ? ESCAPE '\\' OR lower(repository) LIKE ? ESCAPE '\\' OR lower(branch) LIKE ? ESCAPE '\\')")
            bindings += [.text(pattern), .text(pattern), .text(pattern), .text(pattern)]
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try database.query("SELECT \(Self.columns) FROM agents\(filter) ORDER BY created DESC, id", bindings).map { row throws(StoreError) in try Self.decode(row) }
    }

    private func fetch(_ id: String) throws(StoreError) -> AgentRecord? {
        try database.query("SELECT \(Self.columns) FROM agents WHERE id = ?", [.text(id)]).first.map { row throws(StoreError) in try Self.decode(row) }
    }

    private func appendEvent(_ id: String, _ event: AgentEvent) throws(StoreError) {
        let next = (try database.query("SELECT COALESCE(MAX(seq), 0) FROM agent_events WHERE agent_id = ?", [.text(id)]).first?.first?.integer ?? 0) + 1
        _ = try database.query("INSERT INTO agent_events (agent_id, seq, time, state, reason) VALUES (?, ?, ?, ?, ?)",
                               [.text(id), .integer(next), .integer(event.time), .text(event.state.rawValue), .text(event.reason)])
    }

    private static func bindings(_ r: AgentRecord) -> [SQLValue] {
        [.text(r.id), .text(r.name), .text(r.owner), .integer(Int64(r.ownerUID)), .text(r.repository), .text(r.baseBranch), .text(r.branch),
         .text(r.model), .text(LengthPrefixed.encode(r.command)), .integer(r.privacy ? 1 : 0), .integer(Int64(r.policyVersion)),
         .text(r.state.rawValue), .text(r.reason), .integer(r.created), .integer(r.updated), .integer(r.dataRemoved ? 1 : 0)]
    }

    private static func decode(_ row: [SQLValue]) throws(StoreError) -> AgentRecord {
        func text(_ index: Int) throws(StoreError) -> String {
            guard index < row.count, let value = row[index].text else { throw StoreError(.corrupt, "an agent row has a missing or mistyped field \(index)") }
            return value
        }
        func number(_ index: Int) throws(StoreError) -> Int64 {
            guard index < row.count, let value = row[index].integer else { throw StoreError(.corrupt, "an agent row has a missing or mistyped field \(index)") }
            return value
        }
        guard let command = LengthPrefixed.decode(try text(8)), let state = AgentState(rawValue: try text(11)),
              let uid = UInt32(exactly: try number(3)), let version = Int(exactly: try number(10)) else {
            throw StoreError(.corrupt, "an agent row has an unreadable command, state or number")
        }
        var record = AgentRecord(id: try text(0), name: try text(1), owner: try text(2), ownerUID: uid, repository: try text(4),
                                 baseBranch: try text(5), model: try text(7), command: command, privacy: try number(9) != 0,
                                 policyVersion: version, created: try number(13))
        record.branch = try text(6)
        record.state = state
        record.reason = try text(12)
        record.updated = try number(14)
        record.dataRemoved = try number(15) != 0
        return record
    }
}

/// A list of strings in one text column: each as `<utf8 length>:<text>`, so any text
/// (spaces, colons, newlines) survives.
enum LengthPrefixed {
    static func encode(_ items: [String]) -> String {
        items.map { "\($0.utf8.count):\($0)" }.joined()
    }

    static func decode(_ text: String) -> [String]? {
        var items: [String] = []
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), let length = Int(String(decoding: bytes[bytes.startIndex..<colon], as: UTF8.self)),
                  length >= 0, colon + 1 + length <= bytes.endIndex else { return nil }
            items.append(String(decoding: bytes[(colon + 1)..<(colon + 1 + length)], as: UTF8.self))
            bytes = bytes[(colon + 1 + length)...]
        }
        return items
    }
}
