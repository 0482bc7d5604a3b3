import Glibc
import Policy
import Store
import WardenSystem

/// `warden agent follow-up|stop|logs`, answered by the supervisor. Each is decided by the
/// policy (follow-ups by the team follow-up rule; stop by ownership; logs by content
/// visibility, R25) and recorded; what is sent back from the agent is stripped of terminal
/// controls (R13). Files inside the agent's directories are opened by descriptor, never
/// through a link (R14).
public struct AgentControlService: Sendable {
    public let home: String
    public static let maxFollowUpBytes = 256 << 10
    public static let maxLogChunk = 256 << 10
    /// How long a stopped agent's program has to end after SIGTERM before its sandbox is killed.
    public static let stopGraceSeconds = 10.0

    public init(home: String) {
        self.home = home
    }

    var layout: AgentLayout { AgentLayout(home: home) }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        let id = request.arguments["id"] ?? ""
        let (context, store, record): (CallerPolicy, AgentStore, AgentRecord)
        do throws(SupervisorResponse.Failure) { (context, store, record) = try CallerPolicy.agentRequest(home: home, uid: callerUID, id: id) } catch {
            return error.response
        }
        let agent = AgentRef(id: record.id, owner: record.owner)
        switch request.operation {
        case "agent.follow-up":
            let decision = context.evaluator.mayFollowUp(context.caller, agent: agent)
            if let refusal = context.record("agent follow-up \(id)", decision) { return refusal }
            return followUp(record, text: request.input ?? "", from: context.caller.name)
        case "agent.stop":
            let decision = context.evaluator.mayAct(context.caller, .stop, agent: agent)
            if let refusal = context.record("agent stop \(id)", decision) { return refusal }
            return stop(record, store: store, by: context.caller.name)
        case "agent.logs":
            let decision = context.evaluator.mayAct(context.caller, .readContent, agent: agent)
            // A reader other than the owner is recorded once per read, not per `--follow` poll.
            let offset = request.arguments["offset"].flatMap { Int64($0) } ?? 0
            if record.owner != context.caller.name, offset == 0, let refusal = context.record("agent logs \(id)", decision) { return refusal }
            guard decision.allowed else { return .failure(123, "warden: refused: \(decision.reason) [\(decision.rule)]") }
            return logs(record, offset: offset)
        default:
            return .failure(125, "warden: unknown operation \(request.operation)")
        }
    }

    // MARK: - Follow-ups

    private func followUp(_ record: AgentRecord, text: String, from sender: String) -> SupervisorResponse {
        guard !record.state.isTerminal else { return .failure(1, "warden: agent \(record.id) has ended (\(record.state.rawValue)); start a new one") }
        guard !text.utf8.isEmpty else { return .failure(125, "warden: the follow-up is empty") }
        guard text.utf8.count <= Self.maxFollowUpBytes else { return .failure(125, "warden: the follow-up is larger than 256 KiB") }
        let number: Int
        do { number = try deliver(Array(text.utf8), to: layout.followUps(record.id)) } catch {
            return .failure(122, "warden: the follow-up cannot be written: \(error.description)")
        }
        // The owner forwards SIGUSR1 to the agent program through the sandbox's pid 1; an agent
        // not yet running reads the directory when it starts.
        if let owner = OwnerRecord.read(layout.ownerFile(record.id))?.owner { owner.signal(SIGUSR1) }
        let name = Self.followUpName(number)
        return SupervisorResponse(output: "follow-up \(name) delivered to agent \(record.id) (from \(sender))\n")
    }

    static func followUpName(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Writes the next numbered message whole: a temporary file linked to its number, so the
    /// agent never reads half a message and two senders never take the same number.
    private func deliver(_ bytes: [UInt8], to directoryPath: String) throws(SystemError) -> Int {
        let directory = try FileDescriptor.open(directoryPath, O_RDONLY | O_DIRECTORY, resolve: .noLinks)
        let temporary = ".incoming-" + hexString(Host.randomBytes(6))
        let file = FileDescriptor(try check("create(\(temporary))") {
            openat(directory.raw, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        })
        defer { unlinkat(directory.raw, temporary, 0) }
        try file.writeAll(bytes)
        try check("fsync(\(temporary))") { fsync(file.raw) }
        file.close()
        let existing = Files.listDirectory(directory).compactMap { $0.utf8.count == 4 ? Int($0) : nil }
        var number = (existing.max() ?? 0) + 1
        for _ in 0..<64 {
            if linkat(directory.raw, temporary, directory.raw, Self.followUpName(number), 0) == 0 { return number }
            guard errno == EEXIST else { throw SystemError.current("link(\(Self.followUpName(number)))") }
            number += 1
        }
        throw SystemError(errno: EEXIST, step: "number the follow-up (too many at once)")
    }

    // MARK: - Stop

    private func stop(_ record: AgentRecord, store: AgentStore, by caller: String) -> SupervisorResponse {
        guard !record.state.isTerminal else { return .failure(1, "warden: agent \(record.id) has already ended (\(record.state.rawValue))") }
        do { try Files.writeAtomically(layout.stopFile(record.id), Array("stopped by \(caller)\n".utf8), mode: 0o600) } catch {
            return .failure(122, "warden: the stop cannot be recorded: \(error.description)")
        }
        let owners = OwnerRecord.read(layout.ownerFile(record.id))
        if let owner = owners?.owner, owner.isAlive {
            owner.signal(SIGTERM)
            let box = UncheckedBox((store, record.id, layout))
            // The agent program gets a grace period to end; then its sandbox is killed.
            BackgroundWork<Void>.onOwnThread {
                let (store, id, layout) = box.value
                let deadline = monotonicNanoseconds() + UInt64(Self.stopGraceSeconds * 1e9)
                while monotonicNanoseconds() < deadline {
                    if let current = try? store.get(id), current.state.isTerminal { return }
                    // Once the sandbox runs, wait on its init's pidfd: this wakes the moment it
                    // ends, and kills it at the deadline, not up to a poll later.
                    if let sandbox = OwnerRecord.read(layout.ownerFile(id))?.sandbox {
                        let left = Int32((deadline - min(deadline, monotonicNanoseconds())) / 1_000_000)
                        if !sandbox.waitForExit(milliseconds: left) { sandbox.signal(SIGKILL) }
                        return
                    }
                    // Still preparing (no sandbox yet): the owner ends the agent at its next step.
                    usleep(100_000)
                }
                if let sandbox = OwnerRecord.read(layout.ownerFile(id))?.sandbox { sandbox.signal(SIGKILL) }
            }?.detach()
            return SupervisorResponse(output: "stopping agent \(record.id): its program has \(Int(Self.stopGraceSeconds)) s to end; its work is committed and pushed\n")
        }
        // No owner process: nothing runs; the agent ends here.
        do { try store.transition(record.id, to: .stopped, reason: "stopped by \(caller) (no owner process was running)", at: wallMilliseconds()) } catch {
            return .failure(122, "warden: \(error.message)")
        }
        return SupervisorResponse(output: "agent \(record.id) stopped\n")
    }

    // MARK: - Logs

    private func logs(_ record: AgentRecord, offset: Int64) -> SupervisorResponse {
        let ended = record.state.isTerminal
        var info = ["ended": ended ? "true" : "false", "offset": String(offset), "state": record.state.rawValue]
        if record.dataRemoved {
            return SupervisorResponse(error: "warden: agent \(record.id)'s log was removed by the retention sweep\n", info: info)
        }
        let directory: FileDescriptor
        do { directory = try FileDescriptor.open(layout.directory(record.id), O_RDONLY | O_DIRECTORY, resolve: .noLinks) } catch {
            return SupervisorResponse(error: "warden: agent \(record.id) has no files\n", info: info)
        }
        let fd = openat(directory.raw, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let why = record.privacy && ended ? "was deleted at completion (privacy mode)" : "is empty so far"
            return SupervisorResponse(error: offset == 0 ? "warden: agent \(record.id)'s log \(why)\n" : "", info: info)
        }
        let file = FileDescriptor(fd)
        var buffer = [UInt8](repeating: 0, count: Self.maxLogChunk)
        let n = buffer.withUnsafeMutableBytes { pread(file.raw, $0.baseAddress, $0.count, off_t(max(0, offset))) }
        guard n >= 0 else { return .failure(122, "warden: the log cannot be read: \(errnoDescription(errno))") }
        info["offset"] = String(max(0, offset) + Int64(n))
        info["more"] = n == Self.maxLogChunk ? "true" : "false"
        return SupervisorResponse(output: stripTerminalControls(String(decoding: buffer[0..<n], as: UTF8.self)), info: info)
    }
}
