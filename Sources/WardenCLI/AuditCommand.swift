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
            The audit log lives in Warden's home (audit.db, root's; WARDEN_HOME or --home to choose \
            another). Root reads it directly; everyone else through the supervisor (WARDEN_SOCKET or \
            --socket), which shows a member only the records of their own runs and agents and records \
            every read an auditor or admin makes of other people's records. `head` and `verify` need \
            root (the audit key). Exit status: 0 done; 1 `verify` found a problem; 120 the log cannot be \
            read; 122 a read cannot be recorded; 123 refused; 125 bad input.
            """,
        subcommands: [AuditListCommand.self, AuditExportCommand.self, AuditVerifyCommand.self, AuditHeadCommand.self, AuditSummaryCommand.self,
                      AuditStreamCommand.self],
        defaultSubcommand: AuditListCommand.self)
}

/// Options every `warden audit` command takes.
struct AuditOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Warden's home (default: WARDEN_HOME, else /var/lib/warden).", valueName: "dir"))
    var home: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("The supervisor's socket, for callers other than root.", valueName: "path"))
    var socket: String?

    var resolvedHome: String { PolicyHome.resolve(requested: home ?? Host.environment("WARDEN_HOME"), uid: getuid()).path }

    /// Opens the log read-only (with the audit key, to check checkpoints, when `keyed`); a
    /// missing log is an empty one only for reads that say so.
    func store(keyed: Bool = false) throws -> SQLiteAuditStore? {
        let home = resolvedHome
        let path = SQLiteAuditStore.path(home: home)
        guard Files.lstat(path) != nil else { return nil }
        do {
            return try SQLiteAuditStore(path: path, readOnly: !keyed, create: false, key: keyed ? try AuditKey.load(home: home) : nil)
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
        let records = try AuditSource.open(options).records(try filters.query())
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
        for stored in try AuditSource.open(options).records(try filters.query()) {
            AuditJSON.emit(AuditJSON(stored), pretty: false)
        }
    }
}

struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the hash chain and hold it against the keyed checkpoints (and an exported head); exit 1 naming what is wrong.",
        discussion: "Finds an edited record, a chain rewritten without the audit key, a deleted range and a truncated tail. Needs root (the audit key).")
    @OptionGroup var options: AuditOptions
    @Option(name: .long, help: ArgumentHelp("A head exported earlier by `warden audit head`: the log must still hold it.", valueName: "file"))
    var head: String?

    func run() throws {
        guard getuid() == 0 else {
            printError("warden: audit verify needs root: the checkpoints are checked with the audit key")
            throw ExitCode(123)
        }
        var exported: AuditHead?
        if let head {
            do {
                exported = try JSONDecoder().decode(AuditHead.self, from: Data(try Files.read(head, limit: 1 << 16)))
            } catch {
                printError("warden: --head \(head): not a head exported by `warden audit head` (\(error))")
                throw ExitCode(125)
            }
        }
        guard let store = try options.store(keyed: true) else {
            if exported != nil {
                printError("warden: audit log missing: the exported head names record \(exported?.sequence ?? 0), and there is no log at all")
                throw ExitCode(1)
            }
            print("no audit log yet: nothing to verify")
            return
        }
        let result: AuditVerification
        do { result = try store.verify(head: exported) } catch {
            printError("warden: cannot read the audit log: \(error.message)")
            throw ExitCode(120)
        }
        if options.json {
            struct Report: Encodable { var intact: Bool; var checked: Int64; var checkpoints: Int; var firstBad: Int64?; var problem: String?; var head: String }
            AuditJSON.emit(Report(intact: result.firstBad == nil, checked: result.checked, checkpoints: result.checkpoints, firstBad: result.firstBad,
                                  problem: result.problem, head: result.head), pretty: true)
        } else if let problem = result.problem {
            printError("warden: audit log not intact: \(problem)")
        } else {
            print("audit chain intact: \(result.checked) records, \(result.checkpoints) keyed checkpoint\(result.checkpoints == 1 ? "" : "s")" + (exported.map { "; the exported head (record \($0.sequence)) is held" } ?? "") + "; head \(result.head)")
        }
        if result.firstBad != nil { throw ExitCode(1) }
    }
}

struct AuditHeadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Export the chain's head, keyed, to keep elsewhere: `verify --head FILE` later proves the log still holds it.",
        discussion: "Also writes a keyed checkpoint at that point. Needs root (the audit key).")
    @OptionGroup var options: AuditOptions
    @Option(name: .long, help: ArgumentHelp("Write it to this file (mode 0600, must not exist) instead of standard output.", valueName: "file"))
    var output: String?

    func run() throws {
        guard getuid() == 0 else {
            printError("warden: audit head needs root: the head is signed with the audit key")
            throw ExitCode(123)
        }
        let home = options.resolvedHome
        guard Files.lstat(SQLiteAuditStore.path(home: home)) != nil else {
            printError("warden: no audit log yet: there is no head to export")
            throw ExitCode(1)
        }
        let head: AuditHead?
        do {
            head = try SQLiteAuditStore(path: SQLiteAuditStore.path(home: home), create: false, key: try AuditKey.load(home: home)).exportHead()
        } catch {
            printError("warden: the head cannot be exported: \(error.message)")
            throw ExitCode(120)
        }
        guard let head else {
            printError("warden: the audit log is empty: there is no head to export")
            throw ExitCode(1)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: (try? encoder.encode(head)) ?? Data(), as: UTF8.self) + "\n"
        guard let output else {
            print(text, terminator: "")
            return
        }
        let fd = Glibc.open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            printError("warden: --output \(output): \(errnoDescription(errno))")
            throw ExitCode(125)
        }
        defer { Glibc.close(fd) }
        guard write(fd, text, text.utf8.count) == text.utf8.count, fsync(fd) == 0 else {
            printError("warden: --output \(output): \(errnoDescription(errno))")
            throw ExitCode(120)
        }
        print("head: record \(head.sequence), hash \(head.hash) -> \(output)")
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
        let source = try AuditSource.open(options)
        var query = AuditQuery(runID: runID, agentID: agent, flaggedOnly: true)
        if let since, let duration = try? PolicyDuration.parse(since) { query.since = wallMilliseconds() - Int64(duration.seconds) * 1000 }
        let perRule = AuditFlags.perRule(try source.records(query))
        let rows = try runID.map { try source.summary(runID: $0) } ?? []
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
extension AuditJSON {
    static func emit(_ value: some Encodable, pretty: Bool) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
    }
}
