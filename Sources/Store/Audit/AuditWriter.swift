import Glibc
import Synchronization
import WardenSystem

/// Batches audit records from the guard's event loop onto one writer thread, so the loop
/// never waits for the disk. Fail closed: once a batch cannot be written, or more records
/// wait than `capacity` (the disk is slower than the sandbox), `accepting` turns false for
/// good and the guard refuses all further egress (R19). Records already handed over are
/// retried until `close`, then reported as lost in `lost`.
public final class AuditWriter: Sendable {
    private struct State {
        var pending: [AuditRecord] = []
        var failure: String?
        var closing = false
        var written: Int64 = 0
        var lost: Int64 = 0
    }

    private let state = Mutex(State())
    private let capacity: Int
    /// Privacy mode: records of a privacy-mode agent keep no path (R25).
    public let redaction: AuditRedaction
    private let interval: UInt32
    /// The writer's own OS thread (not the cooperative pool: it blocks on the disk).
    private let worker = Mutex<BackgroundWork<Void>?>(nil)
    /// Cuts the wait between batches short when the writer is closed (a run's teardown).
    private let wakeup: WakeupPipe?

    /// `makeStore` runs on the writer thread, which owns the connection (SQLite connections are
    /// not shared between threads). `flushMicroseconds`: how long records may wait.
    public init(capacity: Int = 100_000, flushMicroseconds: UInt32 = 20_000, redaction: AuditRedaction = AuditRedaction(),
                makeStore: @escaping @Sendable () throws(StoreError) -> any AuditStore) {
        self.capacity = capacity
        self.redaction = redaction
        interval = flushMicroseconds
        wakeup = WakeupPipe()
        if let work = BackgroundWork.onOwnThread({ [self] in loop(makeStore) }) {
            worker.withLock { $0 = work }
        } else {
            state.withLock { $0.failure = "the audit writer thread cannot start: \(errnoDescription(errno))" }
        }
    }

    /// Takes a store the caller opened (so that a store that cannot be opened is the caller's
    /// error, before anything starts); from then on only the writer thread uses it.
    public convenience init(opened store: any AuditStore, capacity: Int = 100_000, flushMicroseconds: UInt32 = 20_000,
                            redaction: AuditRedaction = AuditRedaction()) {
        let handed = UncheckedBox(store)
        self.init(capacity: capacity, flushMicroseconds: flushMicroseconds, redaction: redaction, makeStore: { () throws(StoreError) -> any AuditStore in handed.value })
    }

    /// Whether egress may go on: every record so far was written or is queued within bounds.
    public var accepting: Bool { state.withLock { $0.failure == nil } }
    public var failure: String? { state.withLock { $0.failure } }
    public var written: Int64 { state.withLock { $0.written } }
    public var lost: Int64 { state.withLock { $0.lost } }

    /// Queues one record; false when the writer has failed or is full (the caller refuses).
    @discardableResult
    public func submit(_ given: AuditRecord) -> Bool {
        let record = redaction.privateContent ? redaction.apply(given) : given
        return state.withLock { state in
            guard state.failure == nil else { return false }
            guard state.pending.count < capacity else {
                state.failure = "more than \(capacity) audit records are waiting to be written"
                return false
            }
            state.pending.append(record)
            return true
        }
    }

    /// Writes what is queued and stops the thread. Returns the failure, if any.
    @discardableResult
    public func close() -> String? {
        state.withLock { $0.closing = true }
        wakeup?.signal()
        let work = worker.withLock { worker in
            defer { worker = nil }
            return worker
        }
        work?.wait()
        return state.withLock { $0.failure }
    }

    private func loop(_ makeStore: @Sendable () throws(StoreError) -> any AuditStore) {
        let store: any AuditStore
        do {
            store = try makeStore()
        } catch {
            state.withLock { state in
                state.failure = "the audit store cannot be opened: \(error.message)"
                state.lost += Int64(state.pending.count)
                state.pending.removeAll()
            }
            return
        }
        while true {
            let (batch, closing) = state.withLock { state -> ([AuditRecord], Bool) in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                return (batch, state.closing)
            }
            if !batch.isEmpty {
                do {
                    try store.append(batch)
                    state.withLock { $0.written += Int64(batch.count) }
                } catch {
                    // The batch goes back to the front: it is retried until the end, and the
                    // guard stops all egress meanwhile.
                    state.withLock { state in
                        if state.failure == nil { state.failure = "audit records cannot be written: \(error.message)" }
                        state.pending.insert(contentsOf: batch, at: 0)
                        if closing {
                            state.lost += Int64(state.pending.count)
                            state.pending.removeAll()
                        }
                    }
                }
            }
            if closing && state.withLock({ $0.pending.isEmpty }) {
                // A clean stop leaves a keyed checkpoint over everything this writer wrote.
                do { try store.checkpoint(reason: "stop") } catch {
                    state.withLock { state in if state.failure == nil { state.failure = "the closing audit checkpoint cannot be written: \(error.message)" } }
                }
                return
            }
            if !closing {
                if let wakeup { wakeup.wait(milliseconds: Int32(max(1, interval / 1000))) } else { usleep(interval) }
            }
        }
    }
}
