import Agent
import ArgumentParser
import Glibc
import Policy
import Store
import WardenSystem

/// `warden audit stream`: every record, in order, as it is written, to a file, syslog or a
/// collector; resumes after the last record it delivered.
struct AuditStreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Deliver every audit record as it is written, in order, to a file, syslog or an HTTPS collector; resumes where it stopped.",
        discussion: """
            TARGET: file:PATH (JSON Lines, rotated at --max-size into PATH.1 … PATH.N), syslog or \
            syslog:SOCKET (RFC 5424, facility 13 "log audit"), or https://HOST/PATH (batches POSTed as \
            JSON Lines; HOST must be allowed by the network policy; the policy's trusted CAs are \
            trusted), or @FILE to read the target from a 0600 file of root's (a collector URL may hold \
            a token, and command lines are public). Formats: jsonl (Warden's record JSON) or ocsf (OCSF 1.1 Network Activity). The \
            position is kept in the home (audit-streams/), per target. Runs until SIGINT or SIGTERM; \
            --once stops when everything written so far is delivered. Needs root. `warden serve \
            --audit-stream TARGET` runs the same stream inside the supervisor.
            """)

    @OptionGroup var options: AuditOptions
    @Option(name: .long, help: ArgumentHelp("Where to deliver.", valueName: "target")) var to: String
    @Option(name: .long, help: ArgumentHelp("jsonl or ocsf.", valueName: "format")) var format = "jsonl"
    @Option(name: .customLong("max-size"), help: ArgumentHelp("A file target's size before it rotates (default 100M).", valueName: "size"))
    var maxSize = "100M"
    @Option(name: .long, help: ArgumentHelp("Rotated files kept (default 5).", valueName: "n")) var keep = 5
    @Flag(name: .long, help: "Stop once every record written so far is delivered.") var once = false

    func validate() throws {
        _ = try target()
        guard AuditStreamFormat(rawValue: format) != nil else { throw ValidationError("--format \(format): expected jsonl or ocsf") }
    }

    func target() throws -> AuditStreamTarget {
        do { return try AuditStreamTarget.parse(to, maxBytes: try ByteSize.parse(maxSize).bytes, keep: keep) } catch {
            throw ValidationError("--to: \(error.message)")
        }
    }

    func run() throws {
        guard getuid() == 0 else {
            printError("warden: audit stream needs root: it reads the whole audit log")
            throw ExitCode(123)
        }
        let home = options.resolvedHome
        let stream = try AuditStreamSetup.make(home: home, target: try target(), format: AuditStreamFormat(rawValue: format) ?? .jsonl)
        let stop = StopSignals.install()
        // The whole log leaves the host from here: that read is recorded like any other.
        if Files.lstat(SQLiteAuditStore.path(home: home)) != nil, let failure = stream.recordStart() {
            printError("warden: the stream cannot be recorded, so it does not start: \(failure)")
            throw ExitCode(122)
        }
        do {
            let position = try stream.run(once: once, stop: { stop.requested }, report: { printError("warden: " + $0) })
            printError("warden: audit stream to \(stream.target): delivered up to record \(position)")
        } catch {
            printError("warden: the audit log cannot be read: \(error.message)")
            throw ExitCode(120)
        }
    }

}
