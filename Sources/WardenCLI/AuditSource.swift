import Agent
import ArgumentParser
import FoundationEssentials
import Glibc
import Store
import WardenSystem

/// Where `warden audit` reads from. Root opens the log itself (root is an admin: a read that
/// returns anyone else's records is recorded first); everyone else asks the supervisor, which
/// alone may open it and enforces roles (R25: a member reads only their own records).
enum AuditSource {
    case direct(store: SQLiteAuditStore?, home: String)
    case supervisor(socket: String)

    static func open(_ options: AuditOptions) throws -> AuditSource {
        if getuid() == 0 { return .direct(store: try options.store(), home: options.resolvedHome) }
        return .supervisor(socket: options.socket ?? Host.environment("WARDEN_SOCKET") ?? SupervisorClient.systemSocket)
    }

    func records(_ query: AuditQuery) throws -> [StoredAuditRecord] {
        switch self {
        case .direct(let store, let home):
            guard let store else { return [] }
            let records = try Self.reading { () throws(StoreError) in try store.records(query) }
            if let access = AuditAccess.readRecord(readerUID: 0, reader: "root", role: "admin", filters: AuditAccess.describe(query),
                                                   records: records, now: wallMilliseconds()) {
                do { try AuditAccess.record(access, home: home) } catch {
                    printError("warden: the read cannot be recorded, so nothing is shown: \(error.message)")
                    throw ExitCode(122)
                }
            }
            return records
        case .supervisor(let socket):
            var arguments: [String: String] = [:]
            if let run = query.runID { arguments["run"] = run }
            if let agent = query.agentID { arguments["agent"] = agent }
            if let since = query.since { arguments["since"] = String(since) }
            if let allowed = query.allowed { arguments["decision"] = allowed ? "allow" : "deny" }
            if query.flaggedOnly { arguments["flagged"] = "true" }
            if let limit = query.limit { arguments["limit"] = String(limit) }
            var all: [StoredAuditRecord] = []
            // Pages until the supervisor says there is no more (bounded: 10,000 pages).
            for _ in 0..<10_000 {
                let response = SupervisorClient.send(SupervisorRequest(operation: "audit.records", arguments: arguments), socketPath: socket)
                let page: [StoredAuditRecord] = try Self.decode(response)
                all += page
                guard let next = response.info?["next"] else { break }
                arguments["after"] = next
            }
            return all
        }
    }

    func summary(runID: String) throws -> [AuditDestinationSummary] {
        switch self {
        case .direct(let store, _):
            return try Self.reading { () throws(StoreError) in try store?.summary(runID: runID, owner: nil) ?? [] }
        case .supervisor(let socket):
            return try Self.decode(SupervisorClient.send(SupervisorRequest(operation: "audit.summary", arguments: ["run": runID]), socketPath: socket))
        }
    }

    private static func decode<T: Decodable>(_ response: SupervisorResponse) throws -> T {
        guard response.status == 0 else {
            printError(stripTerminalControls(response.error).trimmingWhitespace())
            throw ExitCode(response.status)
        }
        do { return try JSONDecoder().decode(T.self, from: Data(response.output.utf8)) } catch {
            printError("warden: the supervisor's answer cannot be read: \(error)")
            throw ExitCode(120)
        }
    }

    private static func reading<T>(_ body: () throws(StoreError) -> T) throws -> T {
        do { return try body() } catch {
            printError("warden: cannot read the audit log: \(error.message)")
            throw ExitCode(120)
        }
    }
}
