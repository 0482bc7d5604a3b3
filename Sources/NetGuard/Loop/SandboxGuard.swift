import CWardenShim
import Glibc
import Policy
import Store
import WardenSystem

/// The guard of one sandbox: its sockets (made in the sandbox's network namespace), its event
/// loop on its own thread, its tables (connections, pending DNS queries, the DNS answers it
/// has seen) and its recorder. Nothing here is shared with another sandbox's guard.
final class SandboxGuard {
    let loop: EventLoop
    var judge: EgressJudge
    let recorder: AuditRecorder
    let limits: GuardLimits
    let sockets: NamespaceSockets
    let upstreamResolver: SocketAddress
    /// TLS inspection's contexts and leaves; nil when inspection is off.
    let tls: TLSContexts?
    /// Exfiltration detection; nil when the policy turns it off.
    let detector: SandboxDetector?
    /// Where inspected connections decrypt one record at a time (one loop thread: one buffer).
    let tlsScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 16)
    private let wake: FileDescriptor
    private var handlers: [Int32: Handler] = [:]
    private var connections: [Int: Connection] = [:]
    private var nextID = 0
    var pendingQueries: [Int32: PendingQuery] = [:]
    var dnsBucket: TokenBucket
    var stats = GuardStatistics()
    private var lastSweep: UInt64 = 0

    enum Handler {
        case listener
        case explicitProxy
        case dnsUDP
        case dnsTCPListener
        case connection(Connection)
        case dnsUpstream
        case dnsClient(DNSStreamClient)
        case packetLog
        case wake
    }

    init(sockets: NamespaceSockets, policy: EgressPolicy, hostAddresses: Set<IPAddress>, recorder: AuditRecorder,
         limits: GuardLimits, upstreamResolver: SocketAddress, tls: TLSContexts?, detection: GuardDetection? = nil) throws(GuardError) {
        do {
            loop = try EventLoop()
            wake = FileDescriptor(try check("eventfd") { eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) })
        } catch {
            throw GuardError.setup("start the guard's loop", error)
        }
        self.tls = tls
        detector = detection.flatMap { $0.policy.enabled ? SandboxDetector($0, mode: policy.matcher.mode) : nil }
        self.sockets = sockets
        judge = EgressJudge(policy: policy, hostAddresses: hostAddresses)
        self.recorder = recorder
        self.limits = limits
        self.upstreamResolver = upstreamResolver
        dnsBucket = TokenBucket(rate: limits.dnsPerSecond, burst: limits.dnsBurst, now: monotonicNanoseconds())
        do throws(SystemError) {
            try add(sockets.proxy.raw, .listener, EventLoop.readable)
            for socket in sockets.explicitProxy { try add(socket.raw, .explicitProxy, EventLoop.readable) }
            for socket in sockets.dnsUDP { try add(socket.raw, .dnsUDP, EventLoop.readable) }
            try add(sockets.dnsTCP.raw, .dnsTCPListener, EventLoop.readable)
            if let packets = sockets.packetLog { try add(packets.socket.raw, .packetLog, EventLoop.readable) }
            try add(wake.raw, .wake, EventLoop.readable)
        } catch {
            throw GuardError.setup("start the guard's loop", error)
        }
    }

    deinit {
        tlsScratch.deallocate()
    }

    private func add(_ fd: Int32, _ handler: Handler, _ interest: UInt32) throws(SystemError) {
        try loop.add(fd, interest)
        handlers[fd] = handler
    }

    func register(_ fd: Int32, _ connection: Connection, interest: UInt32) throws(SystemError) {
        try add(fd, .connection(connection), interest)
    }

    func register(_ fd: Int32, _ handler: Handler, interest: UInt32) throws(SystemError) {
        try add(fd, handler, interest)
    }

    func unregister(_ fd: Int32) {
        loop.remove(fd)
        handlers[fd] = nil
    }

    /// Asks the loop (from any thread) to stop.
    func requestStop() {
        var one: UInt64 = 1
        _ = write(wake.raw, &one, 8)
    }

    /// Runs until `requestStop`; then closes every connection and flushes the records.
    func run() {
        // OpenSSL writes to sockets with write(2): a peer gone must be EPIPE for this thread,
        // never a SIGPIPE for the process (the mask is this thread's alone).
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        var stopping = false
        while !stopping {
            let ready = loop.wait(milliseconds: 100)
            let now = monotonicNanoseconds()
            for (fd, events) in ready {
                guard let handler = handlers[fd] else { continue }
                switch handler {
                case .listener: acceptConnections(on: fd, explicitProxy: false, now: now)
                case .explicitProxy: acceptConnections(on: fd, explicitProxy: true, now: now)
                case .dnsUDP: readQueries(on: fd, now: now)
                case .dnsTCPListener: acceptDNSClients(now: now)
                case .connection(let connection): connection.handle(fd: fd, events: events, now: now)
                case .dnsUpstream: readAnswer(fd, now: now)
                case .dnsClient(let client): client.handle(events: events, now: now)
                case .packetLog: readPacketLog(now: now)
                case .wake: stopping = true
                }
            }
            if now - lastSweep >= 250_000_000 {
                lastSweep = now
                sweep(now: now)
            }
        }
        let now = monotonicNanoseconds()
        for connection in Array(connections.values) { connection.close(now: now, note: "closed because the sandbox ended") }
        for fd in Array(pendingQueries.keys) { expireQuery(fd, now: now) }
        if sockets.packetLog != nil { readPacketLog(now: now) }
        recorder.tick(now: now, all: true)
    }

    private func sweep(now: UInt64) {
        for connection in Array(connections.values) { connection.sweep(now: now) }
        for (fd, query) in pendingQueries where now >= query.deadline { expireQuery(fd, now: now) }
        for fd in Array(handlers.keys) {
            if case .dnsClient(let client) = handlers[fd], now >= client.deadline { client.close() }
        }
        recorder.tick(now: now)
    }

    // MARK: - Connections

    /// Accepts on the capture port (the original destination is what the program dialled) or
    /// on the explicit proxy (the destination comes from the proxy request).
    private func acceptConnections(on listener: Int32, explicitProxy: Bool, now: UInt64) {
        for _ in 0..<64 {
            let fd = wd_accept4(listener, Sockets.nonBlocking)
            guard fd >= 0 else { return }
            let client = FileDescriptor(fd)
            stats.connections += 1
            guard let destination = explicitProxy ? Self.unresolved : Sockets.originalDestination(fd) else {
                // Made to the guard's port itself: nothing to judge it by.
                recordRefusal(address: "", port: 0, rule: "guard.not-redirected", reason: "a connection made to the guard's own port, not redirected from a destination", now: now)
                Sockets.reset(client)
                continue
            }
            guard connections.count < limits.maxConnections else {
                recordRefusal(address: "\(destination.address)", port: Int(destination.port), rule: "limits.connections",
                              reason: "this sandbox already has \(limits.maxConnections) connections open (R19)", now: now)
                Sockets.reset(client)
                continue
            }
            nextID += 1
            let connection = Connection(id: nextID, owner: self, client: client, destination: destination, explicitProxy: explicitProxy, now: now)
            do {
                try register(fd, connection, interest: EventLoop.readable)
            } catch {
                Sockets.reset(client)
                continue
            }
            connection.clientInterest = EventLoop.readable
            connections[connection.id] = connection
            stats.peakConnections = max(stats.peakConnections, connections.count)
        }
    }

    /// The destination of a proxy connection before its request named one.
    private static let unresolved = SocketAddress(.v4(0), 0)

    private func recordRefusal(address: String, port: Int, rule: String, reason: String, now: UInt64) {
        var record = recorder.make(.connection, proto: "tcp", allowed: false, rule: rule, reason: reason)
        record.address = address
        record.port = port
        recorder.record(record, now: now)
        stats.refused += 1
    }

    /// A connection ended (or was refused): unregistered, closed, recorded.
    func finish(_ connection: Connection, now: UInt64, reset: Bool) {
        unregister(connection.client.raw)
        if let upstream = connection.upstream {
            unregister(upstream.raw)
            upstream.close()
        }
        if reset { Sockets.reset(connection.client) } else { connection.client.close() }
        connections[connection.id] = nil
        connection.detectAtClose(now: now)
        let record = connection.record(now: now)
        if record.allowed { stats.allowed += 1 } else { stats.refused += 1 }
        stats.bytesUp += record.bytesUp
        stats.bytesDown += record.bytesDown
        recorder.record(record, now: now)
    }
}

/// Counts for the run's manifest.
public struct GuardStatistics: Sendable, Equatable {
    public var connections = 0
    public var peakConnections = 0
    public var allowed = 0
    public var refused = 0
    public var bytesUp: Int64 = 0
    public var bytesDown: Int64 = 0
    public var dnsQueries = 0
    public var dnsRefused = 0
    public var packetsDropped = 0
    /// Raw, packet and other sockets seccomp refused.
    public var socketsRefused = 0
    /// Detection flags written.
    public var flags = 0
}
