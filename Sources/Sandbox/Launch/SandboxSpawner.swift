import CWardenShim
import Glibc
import Synchronization
import WardenSystem

/// Asks a running sandbox's pid 1 to fork a process inside it and hands back the master of the
/// pseudo-terminal that process runs on (R11, R12): `warden agent attach` and `terminals`. The
/// process is a child of the sandbox's init, so it is in every layer the workload is; no host
/// process ever enters the sandbox.
///
/// Thread-safe: requests come from other threads than the run's event loop, which receives
/// the answers on the control channel and delivers them here.
public final class SandboxSpawner: Sendable {
    public struct Request: Sendable {
        public var argv: [String]
        /// Entries that replace (or add to) the workload's environment, e.g. TERM.
        public var environment: [(name: String, value: String)]
        public var rows: UInt16
        public var columns: UInt16

        public init(argv: [String], environment: [(name: String, value: String)] = [], rows: UInt16 = 24, columns: UInt16 = 80) {
            self.argv = argv
            self.environment = environment
            self.rows = rows
            self.columns = columns
        }
    }

    public struct Spawned: @unchecked Sendable {
        // Safe: handed from the event loop to exactly one waiting thread, then owned by it.
        public let master: FileDescriptor
        /// The process's pid inside the sandbox's pid namespace.
        public let pid: Int32
    }

    private enum Answer {
        case spawned(Spawned)
        case failed(Int32)
    }

    private struct Waiter {
        let wakeup: WakeupPipe
        var answer: Answer?
    }

    private struct State {
        /// The control channel while the sandbox runs; nil before and after.
        var control: Int32?
        var nextTag: Int64 = 1
        var waiters: [Int64: Waiter] = [:]
    }

    private let state = Mutex(State())
    public static let answerTimeoutMilliseconds: Int32 = 10_000

    public init() {}

    /// Forks `request` inside the sandbox. Throws when the sandbox is not running, the request
    /// is malformed or too large, or pid 1 refused it (its errno in the message).
    public func spawn(_ request: Request) throws(SandboxError) -> Spawned {
        let message = try Self.encode(request)
        guard let wakeup = WakeupPipe() else { throw SandboxError.setup("spawn in the sandbox", .current("pipe")) }
        let tag = try state.withLock { state throws(SandboxError) -> Int64 in
            guard let control = state.control else { throw SandboxError(.setupFailed, "the sandbox is not running") }
            let tag = state.nextTag
            state.nextTag += 1
            var bytes = message
            Self.setTag(tag, in: &bytes)
            let sent = bytes.withUnsafeBytes { send(control, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            guard sent == bytes.count else { throw SandboxError.setup("ask the sandbox's init to spawn", .current("send")) }
            state.waiters[tag] = Waiter(wakeup: wakeup)
            return tag
        }
        _ = wakeup.wait(milliseconds: Self.answerTimeoutMilliseconds)
        let answer = state.withLock { state in state.waiters.removeValue(forKey: tag)?.answer }
        switch answer {
        case .spawned(let spawned): return spawned
        case .failed(let error):
            throw SandboxError(.setupFailed, "the sandbox's init could not start \(request.argv[0]): \(String(cString: strerror(error)))")
        case nil:
            throw SandboxError(.setupFailed, "the sandbox's init did not answer within \(Self.answerTimeoutMilliseconds / 1000) s (has the sandbox ended?)")
        }
    }

    // MARK: - The run's side

    /// The run's event loop: the sandbox started with this control channel.
    func open(control: Int32) {
        state.withLock { $0.control = control }
    }

    /// The run's event loop: the sandbox ended; waiting callers are told so at once.
    func end() {
        state.withLock { state in
            state.control = nil
            for waiter in state.waiters.values { waiter.wakeup.signal() }
        }
    }

    /// The run's event loop: an answer from the control channel.
    func deliver(_ message: wd_msg, descriptor: FileDescriptor?) {
        let tag = message.value.0
        let answer: Answer
        switch message.type {
        case UInt32(WD_MSG_SPAWNED.rawValue):
            guard let descriptor else { return }
            answer = .spawned(Spawned(master: descriptor, pid: Int32(truncatingIfNeeded: message.value.1)))
        case UInt32(WD_MSG_SPAWN_FAILED.rawValue):
            answer = .failed(message.err)
        default:
            return
        }
        let claimed = state.withLock { state -> Bool in
            guard var waiter = state.waiters[tag], waiter.answer == nil else { return false }
            waiter.answer = answer
            state.waiters[tag] = waiter
            waiter.wakeup.signal()
            return true
        }
        // Nobody waits for it any more (timed out): the terminal closes, the process sees a hangup.
        if !claimed { descriptor?.close() }
    }

    // MARK: - Encoding (struct wd_spawn_request)

    static func encode(_ request: Request) throws(SandboxError) -> [UInt8] {
        guard !request.argv.isEmpty, request.argv.count <= Int(WD_SPAWN_MAX_ARGS),
              request.environment.count <= Int(WD_SPAWN_MAX_ENV) else {
            throw SandboxError(.invalidInput, "spawn: between 1 and \(WD_SPAWN_MAX_ARGS) arguments and at most \(WD_SPAWN_MAX_ENV) variables")
        }
        var strings: [UInt8] = []
        for entry in request.environment {
            guard isEnvironmentVariableName(entry.name), !entry.value.utf8.contains(0) else {
                throw SandboxError(.invalidInput, "spawn: invalid environment entry \(entry.name)")
            }
            strings += Array("\(entry.name)=\(entry.value)".utf8) + [0]
        }
        for argument in request.argv {
            guard !argument.utf8.contains(0) else { throw SandboxError(.invalidInput, "spawn: an argument contains NUL") }
            strings += Array(argument.utf8) + [0]
        }
        guard strings.count <= Int(WD_SPAWN_STRINGS) else {
            throw SandboxError(.invalidInput, "spawn: the command and its variables exceed \(WD_SPAWN_STRINGS) bytes")
        }
        var head = wd_msg()
        head.type = UInt32(WD_MSG_SPAWN.rawValue)
        head.value.1 = Int64(request.environment.count)
        head.value.2 = Int64(request.argv.count)
        head.value.3 = Int64(request.rows)
        head.value.4 = Int64(request.columns)
        return withUnsafeBytes(of: head) { Array($0) } + strings
    }

    private static func setTag(_ tag: Int64, in bytes: inout [UInt8]) {
        let offset = MemoryLayout<wd_msg>.offset(of: \wd_msg.value)!
        withUnsafeBytes(of: tag) { source in
            for index in 0..<source.count { bytes[offset + index] = source[index] }
        }
    }
}
