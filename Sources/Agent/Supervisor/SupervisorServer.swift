import Glibc
import Synchronization
import WardenSystem

/// Handles one request from a caller the kernel identified.
public protocol SupervisorHandler: Sendable {
    func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse
}

/// `warden serve`'s socket: every connection carries one request and gets one response. The
/// caller is who SO_PEERCRED says (a uid), never what the request claims. Connections are
/// served on their own threads, at most `maxInFlight` at once; a slow or silent client is cut
/// off after `timeoutMilliseconds`.
public final class SupervisorServer: @unchecked Sendable {
    // Safe: `listener` and `wakeup` are set once in `init`; `inFlight` is a Mutex.
    public let socketPath: String
    private let listener: FileDescriptor
    private let handler: any SupervisorHandler
    private let wakeup: WakeupPipe
    private let inFlight = Mutex(InFlight())
    public static let maxInFlight = 32
    /// One local user cannot take every slot.
    public static let maxInFlightPerUID = 8

    private struct InFlight {
        var total = 0
        var byUID: [UInt32: Int] = [:]
    }
    public static let timeoutMilliseconds: Int32 = 10_000

    /// The supervisor's socket is mode 0666: anyone may ask, and the policy decides each
    /// request by the caller's uid. An agent owner's control socket is 0600 (root only).
    public init(socketPath: String, handler: any SupervisorHandler, mode: mode_t = 0o666) throws(SystemError) {
        guard let wakeup = WakeupPipe() else { throw SystemError(errno: errno, step: "pipe") }
        self.wakeup = wakeup
        self.socketPath = socketPath
        self.handler = handler
        listener = try UnixSocket.listen(socketPath, mode: mode)
    }

    /// Serves until `stop`.
    public func run() {
        while true {
            var entries = [pollfd(fd: listener.raw, events: Int16(POLLIN), revents: 0)]
            _ = poll(&entries, 1, 200)
            if wakeup.wait(milliseconds: 0) { break }
            guard entries[0].revents & Int16(POLLIN) != 0 else { continue }
            let fd = acceptCloseOnExec(listener.raw)
            guard fd >= 0 else { continue }
            let connection = FileDescriptor(fd)
            // Reads and writes are bounded in time: a caller that never sends or never reads
            // its answer gives its slot back.
            var limit = timeval(tv_sec: Int(Self.timeoutMilliseconds / 1000), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            guard let uid = UnixSocket.peerUID(fd) else {
                connection.close()
                continue
            }
            let admitted = inFlight.withLock { state -> Bool in
                guard state.total < Self.maxInFlight, state.byUID[uid, default: 0] < Self.maxInFlightPerUID else { return false }
                state.total += 1
                state.byUID[uid, default: 0] += 1
                return true
            }
            guard admitted else {
                reply(connection.raw, .failure(75, "warden: the supervisor is busy; try again"))
                connection.close()
                continue
            }
            let job = UncheckedBox(connection)
            let release = { [self] in
                inFlight.withLock { state in
                    state.total -= 1
                    state.byUID[uid, default: 1] -= 1
                    if state.byUID[uid] == 0 { state.byUID[uid] = nil }
                }
            }
            let started = BackgroundWork<Void>.onOwnThread { [self] in
                serve(job.value, uid: uid)
                job.value.close()
                release()
            }
            if let started {
                started.detach()
            } else {
                release()
                reply(connection.raw, .failure(75, "warden: the supervisor cannot start a thread; try again"))
                connection.close()
            }
        }
        unlink(socketPath)
    }

    public func stop() { wakeup.signal() }

    private func serve(_ connection: FileDescriptor, uid: UInt32) {
        guard let line = UnixSocket.readLine(connection.raw, limit: SupervisorFraming.maxBytes, timeoutMilliseconds: Self.timeoutMilliseconds) else {
            reply(connection.raw, .failure(125, "warden: no complete request within \(Self.timeoutMilliseconds / 1000) s, or larger than \(SupervisorFraming.maxBytes) bytes"))
            return
        }
        guard let request = SupervisorFraming.decode(SupervisorRequest.self, line), request.version == 1 else {
            reply(connection.raw, .failure(125, "warden: the request is not one this supervisor understands (is the client the same version?)"))
            return
        }
        reply(connection.raw, handler.handle(request, callerUID: uid))
    }

    private func reply(_ fd: Int32, _ response: SupervisorResponse) {
        if let bytes = SupervisorFraming.encode(response) {
            _ = UnixSocket.writeAll(fd, bytes, descriptor: response.descriptor?.descriptor)
        }
        // This process's copy: the caller holds its own now (or never will).
        response.descriptor?.descriptor.close()
    }
}

/// The client side: one request, one response.
public enum SupervisorClient {
    public static let systemSocket = "/run/warden/warden.sock"

    public static func send(_ request: SupervisorRequest, socketPath: String) -> SupervisorResponse {
        let connection: FileDescriptor
        do {
            connection = try UnixSocket.connect(socketPath)
        } catch {
            return .failure(69, "warden: the supervisor is not reachable at \(socketPath) (\(error.reason)); start it with `warden serve`")
        }
        defer { connection.close() }
        guard let bytes = SupervisorFraming.encode(request), UnixSocket.writeAll(connection.raw, bytes) else {
            return .failure(69, "warden: could not send the request to the supervisor")
        }
        guard let received = UnixSocket.readLineAndDescriptor(
                connection.raw, limit: SupervisorFraming.maxBytes, timeoutMilliseconds: 60_000),
              var response = SupervisorFraming.decode(SupervisorResponse.self, received.line) else {
            return .failure(69, "warden: the supervisor did not answer")
        }
        response.descriptor = received.descriptor.map(PassedDescriptor.init)
        return response
    }
}
