import ArgumentParser
import FoundationEssentials
import Glibc
import Policy
import Store
import WardenSystem

/// `warden audit`: what sandboxes did on the network, from the audit log.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Every DNS query and connection the sandboxes made, the guard's decisions, and the chain that seals them.",
        discussion: """
            The audit log lives in Warden's home (audit.db, readable by root; WARDEN_HOME or --home \
            to choose another). Exit status: 0 done; 1 `verify` found a broken chain; 120 the log cannot \
            be read; 125 bad input.
            """,
        subcommands: [AuditListCommand.self, AuditExportCommand.self, AuditVerifyCommand.self, AuditSummaryCommand.self],
        defaultSubcommand: AuditListCommand.self)
}

/// Options every `warden audit` command takes.
struct AuditOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Warden's home (default: WARDEN_HOME, else /var/lib/warden).", valueName: "dir"))
    var home: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// Opens the log read-only; a missing log is an empty one only for reads that say so.
    func store() throws -> SQLiteAuditStore? {
        let home = PolicyHome.resolve(requested: home ?? Host.environment("WARDEN_HOME"), uid: getuid()).path
        let path = SQLiteAuditStore.path(home: home)
        guard Files.lstat(path) != nil else { return nil }
        do {
            return try SQLiteAuditStore(path: path, readOnly: true, create: false)
        } catch {
            printError("warden: cannot read the audit log: \(error.message)" + (getuid() != 0 ? " (the audit log is readable by root)" : ""))
            throw ExitCode(120)
        }
    }
}

/// Filters shared by the listing and the export.
struct AuditFilters: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only this run.", valueName: "id")) var run: String?
    @Option(name: .long, help: ArgumentHelp("Only this agent.", valueName: "id")) var agent: String?
    @Option(name: .long, help: ArgumentHelp("Only records of the last DURATION (30m, 12h, 7d).", valueName: "duration")) var since: String?
    @Option(name: .long, help: ArgumentHelp("Only allow or deny decisions.", valueName: "allow|deny")) var decision: String?
    @Flag(name: .long, help: "Only detection flags: rule, severity, action, reason, evidence.") var flagged = false
    @Option(name: .long, help: ArgumentHelp("At most this many, the newest.", valueName: "n")) var limit: Int?

    func validate() throws {
        _ = try query()
    }

    func query() throws -> AuditQuery {
        var query = AuditQuery(runID: run, agentID: agent, flaggedOnly: flagged, limit: limit)
        if let since {
            do {
                let duration = try PolicyDuration.parse(since)
                query.since = wallMilliseconds() - Int64(duration.seconds) * 1000
            } catch {
                throw ValidationError("--since \(since): \(error.message)")
            }
        }
        if let decision {
            guard decision == "allow" || decision == "deny" else { throw ValidationError("--decision \(decision): expected allow or deny") }
            query.allowed = decision == "allow"
        }
        if let limit, limit < 1 { throw ValidationError("--limit \(limit): expected a number of at least 1") }
        return query
    }
}

struct AuditListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Records, oldest first, as a table (or --json).")
    @OptionGroup var options: AuditOptions
    @OptionGroup var filters: AuditFilters

    func run() throws {
        let records = try options.store()?.records(try filters.query()) ?? []
        if options.json {
            AuditJSON.emit(records.map(AuditJSON.init), pretty: true)
            return
        }
        guard !records.isEmpty else {
            print(filters.flagged ? "no detection flags match" : "no audit records match")
            return
        }
        if filters.flagged {
            Swift.print(TextTable.render(AuditFlags.table(records)), terminator: "")
            return
        }
        var rows = [["TIME", "RUN", "KIND", "DECISION", "DESTINATION", "REQUEST", "UP/DOWN", "RULE"]]
        for stored in records {
            let r = stored.record
            var destination = r.name.isEmpty ? r.address : (r.address.isEmpty ? r.name : "\(r.name) (\(r.address))")
            if r.port > 0 { destination += ":\(r.port)" }
            let request = r.method.isEmpty ? (r.kind == .dns ? r.detail.split(separator: ";").first.map(String.init) ?? "" : "") : "\(r.method) \(r.path)"
            let decision = r.decisionText + (r.count > 1 ? " ×\(r.count)" : "") + (r.flags.isEmpty ? "" : " [\(r.flags)]")
            rows.append([Timestamp.text(r.time / 1000), r.runID, "\(r.kind.rawValue)/\(r.proto)", decision, destination, request,
                         r.kind == .connection ? "\(r.bytesUp)/\(r.bytesDown)" : "", r.rule])
        }
        Swift.print(TextTable.render(rows), terminator: "")
    }
}

struct AuditExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Records as JSON lines, one per record, for a SIEM.")
    @OptionGroup var options: AuditOptions
    @OptionGroup var filters: AuditFilters
    @Option(name: .long, help: ArgumentHelp("Output format: jsonl.", valueName: "format")) var format = "jsonl"

    func validate() throws {
        guard format == "jsonl" else { throw ValidationError("--format \(format): only jsonl is supported") }
    }

    func run() throws {
        for stored in try options.store()?.records(try filters.query()) ?? [] {
            AuditJSON.emit(AuditJSON(stored), pretty: false)
        }
    }
}

struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Recompute the hash chain; exit 1 and name the first bad record if it is broken.")
    @OptionGroup var options: AuditOptions

    func run() throws {
        guard let store = try options.store() else {
            print("no audit log yet: nothing to verify")
            return
        }
        let result: AuditVerification
        do { result = try store.verify() } catch {
            printError("warden: cannot read the audit log: \(error.message)")
            throw ExitCode(120)
        }
        if options.json {
            struct Report: Encodable { var intact: Bool; var checked: Int64; var firstBad: Int64?; var problem: String?; var head: String }
            AuditJSON.emit(Report(intact: result.firstBad == nil, checked: result.checked, firstBad: result.firstBad, problem: result.problem, head: result.head), pretty: true)
        } else if let problem = result.problem {
            printError("warden: audit chain broken: \(problem) (\(result.checked) records before it are intact)")
        } else {
            print("audit chain intact: \(result.checked) records; head \(result.head)")
        }
        if result.firstBad != nil { throw ExitCode(1) }
    }
}

struct AuditSummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary",
                                                    abstract: "Detection flags per rule (all runs, or --run/--agent/--since), and per destination of one run: events, decisions, bytes.")
    @OptionGroup var options: AuditOptions
    @Option(name: .customLong("run"), help: ArgumentHelp("The run.", valueName: "id")) var runID: String?
    @Option(name: .long, help: ArgumentHelp("Only this agent's flags.", valueName: "id")) var agent: String?
    @Option(name: .long, help: ArgumentHelp("Only flags of the last DURATION (30m, 12h, 7d).", valueName: "duration")) var since: String?

    func validate() throws {
        if let since {
            do { _ = try PolicyDuration.parse(since) } catch { throw ValidationError("--since \(since): \(error.message)") }
        }
    }

    func run() throws {
        let store = try options.store()
        var query = AuditQuery(runID: runID, agentID: agent, flaggedOnly: true)
        if let since, let duration = try? PolicyDuration.parse(since) { query.since = wallMilliseconds() - Int64(duration.seconds) * 1000 }
        let perRule = AuditFlags.perRule(try store?.records(query) ?? [])
        let rows = try runID.map { try store?.summary(runID: $0) ?? [] } ?? []
        if options.json {
            struct Row: Encodable { var destination: String; var port: Int; var proto: String; var events: Int64; var allowed: Int64; var denied: Int64; var bytesUp: Int64; var bytesDown: Int64 }
            struct Output: Encodable { var flags: [AuditFlags.RuleCount]; var destinations: [Row] }
            AuditJSON.emit(Output(flags: perRule, destinations: rows.map { Row(destination: $0.destination, port: $0.port, proto: $0.proto, events: $0.events, allowed: $0.allowed,
                                                                              denied: $0.denied, bytesUp: $0.bytesUp, bytesDown: $0.bytesDown) }), pretty: true)
            return
        }
        if perRule.isEmpty {
            print("no detection flags" + (runID.map { " for run \($0)" } ?? ""))
        } else {
            var table = [["RULE", "TITLE", "FLAGS", "BLOCKED", "WORST", "RUNS"]]
            for row in perRule {
                table.append([row.rule, row.title, "\(row.flags)", "\(row.blocked)", row.worst, "\(row.runs)"])
            }
            Swift.print(TextTable.render(table), terminator: "")
        }
        guard let runID else { return }
        guard !rows.isEmpty else {
            print("no audit records for run \(runID)")
            return
        }
        print("")
        var table = [["DESTINATION", "PORT", "PROTO", "EVENTS", "ALLOWED", "DENIED", "UP", "DOWN"]]
        for row in rows {
            table.append([row.destination, row.port > 0 ? "\(row.port)" : "", row.proto, "\(row.events)", "\(row.allowed)", "\(row.denied)",
                          "\(row.bytesUp)", "\(row.bytesDown)"])
        }
        Swift.print(TextTable.render(table), terminator: "")
    }
}

/// A record as JSON (`--json`, `export`).
struct AuditJSON: Encodable {
    var sequence: Int64
    var time: String
    var runID: String
    var agentID: String
    var owner: UInt32
    var kind: String
    var proto: String
    var address: String
    var port: Int
    var name: String
    var nameSource: String
    var method: String
    var path: String
    var bytesUp: Int64
    var bytesDown: Int64
    var durationMilliseconds: Int64
    var decision: String
    var rule: String
    var reason: String
    var flags: [String]
    var count: Int64
    var detail: String
    var hash: String

    init(_ stored: StoredAuditRecord) {
        let r = stored.record
        sequence = stored.sequence
        time = Timestamp.text(r.time / 1000, milliseconds: Int32(r.time % 1000))
        runID = r.runID
        agentID = r.agentID
        owner = r.owner
        kind = r.kind.rawValue
        proto = r.proto
        address = r.address
        port = r.port
        name = r.name
        nameSource = r.nameSource
        method = r.method
        path = r.path
        bytesUp = r.bytesUp
        bytesDown = r.bytesDown
        durationMilliseconds = r.durationMilliseconds
        decision = r.decisionText
        rule = r.rule
        reason = r.reason
        flags = r.flags.isEmpty ? [] : r.flags.split(separator: ",").map(String.init)
        count = r.count
        detail = r.detail
        hash = stored.hash
    }

    static func emit(_ value: some Encodable, pretty: Bool) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
    }
}
