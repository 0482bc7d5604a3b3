import Glibc
import Policy
import Store
import WardenSystem

/// What one sandbox's guard is given: the policy that judges its egress, its bounds, where
/// allowed DNS queries go, who it belongs to, and where its records are written.
public struct GuardConfiguration: Sendable {
    public var policy: EgressPolicy
    public var limits = GuardLimits()
    public var upstreamResolver: SocketAddress
    public var agentID = ""
    public var owner: UInt32
    /// The audit store's file.
    public var auditPath: String
    /// A privacy-mode agent's guard: its records keep destinations and decisions, no paths (R25).
    public var privateContent = false
    /// TLS inspection (nil: TLS is judged by its server name alone).
    public var tls: TLSInspection?
    /// Exfiltration detection (nil: none, as for a guard that only enforces policy).
    public var detection: GuardDetection?
    /// The canary set planted in the sandbox, written to the audit log when the guard starts.
    public var canaryRecord: String?

    public init(policy: EgressPolicy, upstreamResolver: SocketAddress, owner: UInt32, auditPath: String) {
        self.policy = policy
        self.upstreamResolver = upstreamResolver
        self.owner = owner
        self.auditPath = auditPath
    }
}

/// What a guard reports when it stops.
public struct GuardReport: Sendable {
    public var statistics: GuardStatistics
    public var recordsWritten: Int64
    public var recordsLost: Int64
    public var auditFailure: String?
    public var namespaceInode: UInt64
    /// Set when a detection rule's action stopped the sandbox: which rule, and why.
    public var stoppedBy: String?
}

/// The network guard of one sandbox, from capture to report: `start` makes its sockets in the
/// sandbox's network namespace and runs its loop on its own thread; `stop` closes everything,
/// writes the last records and reports.
public final class NetworkGuard {
    private let sandboxGuard: SandboxGuard
    private let writer: AuditWriter
    private var loop: BackgroundWork<Void>?
    public let namespaceInode: UInt64

    /// The variables that point programs preferring an explicit proxy at the guard's (in the
    /// sandbox, on loopback). Programs that ignore them are captured all the same.
    public static var proxyEnvironment: [(name: String, value: String)] {
        let url = "http://127.0.0.1:\(CaptureRules.explicitProxyPort)"
        let local = "localhost,127.0.0.1,::1"
        return [("http_proxy", url), ("https_proxy", url), ("HTTP_PROXY", url), ("HTTPS_PROXY", url), ("no_proxy", local), ("NO_PROXY", local)]
    }

    /// Fails closed: no guard (and so no sandbox) when the audit store cannot be opened, the
    /// namespace cannot be captured, or a socket is not where it should be.
    public static func start(pid: Int32, runID: String, configuration: GuardConfiguration,
                             pingGroups: ClosedRange<UInt32>? = nil) throws(GuardError) -> NetworkGuard {
        // Opened here so that a store that cannot take records stops the run before it starts;
        // the writer thread then owns the connection.
        // The audit key too: records without checkpoints could be rewritten unseen (R26).
        let store: SQLiteAuditStore
        do {
            let home = String(configuration.auditPath[..<(configuration.auditPath.lastIndex(of: "/") ?? configuration.auditPath.startIndex)])
            store = try SQLiteAuditStore(path: configuration.auditPath, key: try AuditKey.load(home: home.isEmpty ? "/" : home))
        } catch {
            throw GuardError(.auditUnavailable, "network guard: the audit store cannot be opened, so egress cannot be recorded: \(error.message)")
        }
        let writer = AuditWriter(opened: store, redaction: AuditRedaction(privateContent: configuration.privateContent))
        let sockets: NamespaceSockets
        do {
            sockets = try NamespaceSockets.capture(pid: pid, pingGroups: pingGroups)
        } catch {
            writer.close()
            throw error
        }
        let now = monotonicNanoseconds()
        let recorder = AuditRecorder(writer: writer, runID: runID, agentID: configuration.agentID, owner: configuration.owner,
                                     limits: configuration.limits, now: now)
        let sandboxGuard: SandboxGuard
        do {
            sandboxGuard = try SandboxGuard(sockets: sockets, policy: configuration.policy, hostAddresses: HostAddresses.current(),
                                            recorder: recorder, limits: configuration.limits, upstreamResolver: configuration.upstreamResolver,
                                            tls: configuration.tls.map { inspection throws(GuardError) in try TLSContexts(inspection: inspection) },
                                            detection: configuration.detection)
        } catch {
            writer.close()
            throw error
        }
        if let canaries = configuration.canaryRecord {
            var record = recorder.make(.guardEvent, proto: "", allowed: true, rule: "detection.canaries",
                                       reason: "canary credentials planted in this sandbox: any of them seen leaving it is a critical flag, and a value found elsewhere traces back to this run")
            record.detail = canaries
            recorder.record(record, now: now)
        }
        Self.raiseDescriptorLimit()
        // Safe: after `start` only the loop thread touches the guard's state; `requestStop`
        // writes to an eventfd, and `stats` is read after the join.
        let running = UncheckedBox(sandboxGuard)
        guard let loop = BackgroundWork.onOwnThread({ running.value.run() }) else {
            writer.close()
            throw GuardError(.setupFailed, "network guard: its thread cannot start: \(errnoDescription(errno))")
        }
        return NetworkGuard(sandboxGuard: sandboxGuard, writer: writer, loop: loop, namespaceInode: sockets.namespaceInode)
    }

    private init(sandboxGuard: SandboxGuard, writer: AuditWriter, loop: BackgroundWork<Void>, namespaceInode: UInt64) {
        self.sandboxGuard = sandboxGuard
        self.writer = writer
        self.loop = loop
        self.namespaceInode = namespaceInode
    }

    /// Stops the loop (closing and recording every open connection), records the sockets
    /// seccomp refused the sandbox, flushes the records.
    public func stop(refusedSockets: [RefusedSocketKind] = []) -> GuardReport {
        sandboxGuard.requestStop()
        loop?.wait()
        loop = nil
        // The loop thread has ended: its recorder is this thread's now.
        sandboxGuard.recordRefusedSockets(refusedSockets, now: monotonicNanoseconds())
        let failure = writer.close()
        return GuardReport(statistics: sandboxGuard.stats, recordsWritten: writer.written, recordsLost: writer.lost,
                           auditFailure: failure, namespaceInode: namespaceInode, stoppedBy: sandboxGuard.detector?.stopReason)
    }

    /// Each relayed connection holds up to six descriptors (two sockets, two pipes).
    private static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = min(limit.rlim_max, 65_536)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}
