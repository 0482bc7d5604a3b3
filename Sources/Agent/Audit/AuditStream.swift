import Glibc
import Policy
import Store
import WardenSystem

/// Delivers every audit record, in order, to one target as it is written, and keeps its
/// position so that a restart resumes after the last record delivered: none lost, none sent
/// twice (a file target also reads its own last line, so a crash between delivering and saving
/// the position repeats nothing; for syslog and a collector at most the batch in flight at a
/// crash is sent again, each record carrying its sequence number). A batch that cannot be
/// delivered is retried with backoff (0.5 s doubling to 30 s) until it is, or the stream is
/// stopped: records are never skipped.
public final class AuditStream {
    let home: String
    public let target: AuditStreamTarget
    let format: AuditStreamFormat
    private var sink: any AuditSink
    /// Records per batch (and per read of the log), and bytes per batch at most.
    static let batchSize = 500
    static let batchBytes = 1 << 20
    static let pollMilliseconds: Int32 = 100
    /// Hears each batch once it is delivered (the bench measures the stream's lag with it).
    public var onDelivery: (([StoredAuditRecord]) -> Void)?

    public init(home: String, target: AuditStreamTarget, format: AuditStreamFormat, caBundle: String? = nil) {
        self.home = home
        self.target = target
        self.format = format
        switch target {
        case .file(let path, let maxBytes, let keep): sink = FileSink(path: path, maxBytes: maxBytes, keep: keep)
        case .syslog(let socket): sink = SyslogSink(socket: socket)
        case .collector(let url): sink = CollectorSink(url: url, caBundle: caBundle)
        }
    }

    /// The whole log leaves the host from here on: recorded like any other read (an access
    /// record, rule audit.stream). Nil when written, else why not (the caller does not start).
    public func recordStart() -> String? {
        let record = AuditRecord(time: wallMilliseconds(), runID: "", owner: 0, kind: .access, proto: "", allowed: true, rule: "audit.stream",
                                 reason: "root streams every audit record to \(target) (\(format.rawValue))", detail: "from=\(position() + 1)")
        do throws(StoreError) {
            try AuditAccess.record(record, home: home)
        } catch {
            return error.message
        }
        return nil
    }

    /// `<home>/audit-streams/<name>.position`: the last sequence number delivered.
    var positionPath: String { home + "/audit-streams/" + target.cursorName + ".position" }

    public func position() -> Int64 {
        let saved = (try? Files.readText(positionPath, limit: 64)).flatMap { Int64($0.trimmingWhitespace()) } ?? 0
        return max(saved, sink.lastDelivered() ?? 0)
    }

    private func save(_ position: Int64) throws(SystemError) {
        try Files.makeDirectories(home + "/audit-streams", mode: 0o700)
        try Files.writeAtomically(positionPath, Array(String(position).utf8), mode: 0o600)
    }

    /// Runs until `stop` says so (checked between batches and while waiting), or, with `once`,
    /// until every record written so far is delivered. `report` hears each delivery and each
    /// failure. Returns the position reached.
    @discardableResult
    public func run(once: Bool = false, stop: () -> Bool, report: (String) -> Void = { _ in }) throws(StoreError) -> Int64 {
        var position = position()
        var store: SQLiteAuditStore?
        var backoff: Int32 = 500
        let encoder = AuditStreamFormat.encoder()
        while !stop() {
            if store == nil, Files.lstat(SQLiteAuditStore.path(home: home)) != nil {
                // A log being created has no schema for a moment: that passes.
                do { store = try SQLiteAuditStore(path: SQLiteAuditStore.path(home: home), readOnly: true, create: false) } catch {
                    report("audit stream to \(target): the audit log cannot be opened yet (\(error.message)); retrying in \(backoff) ms")
                    Self.pause(backoff, stop)
                    backoff = min(backoff * 2, 30_000)
                    continue
                }
            }
            let read: [StoredAuditRecord]
            do { read = try store?.records(AuditQuery(after: position, pageSize: Self.batchSize)) ?? [] } catch {
                // A busy or briefly locked log is retried, never the end of the stream.
                report("audit stream to \(target): the audit log cannot be read (\(error.message)); retrying in \(backoff) ms")
                Self.pause(backoff, stop)
                backoff = min(backoff * 2, 30_000)
                continue
            }
            if read.isEmpty {
                if once { break }
                Self.pause(Self.pollMilliseconds, stop)
                continue
            }
            if let first = read.first, first.sequence > position + 1 {
                // Records 1…first-1 are gone (a retention purge, a new log): said, not hidden.
                report("audit stream to \(target): records \(position + 1)…\(first.sequence - 1) are no longer in the log (purged before they were delivered); continuing at \(first.sequence)")
            }
            // At most `batchBytes` a batch (at least one record), so no single batch is too large
            // to deliver and blocks the stream for good.
            var batch: [AuditStreamEntry] = []
            var bytes = 0
            for stored in read {
                let entry = AuditStreamEntry(stored, format: format, encoder: encoder)
                if !batch.isEmpty && bytes + entry.line.utf8.count > Self.batchBytes { break }
                bytes += entry.line.utf8.count + 1
                batch.append(entry)
            }
            let records = Array(read.prefix(batch.count))
            do {
                try sink.deliver(batch)
            } catch {
                report("audit stream to \(target): records \(batch[0].sequence)… not delivered (\(error.description)); retrying in \(backoff) ms")
                // Part of the batch may have landed (a file rotated midway): start after it.
                if let landed = sink.lastDelivered(), landed > position {
                    position = landed
                    try? save(position)
                }
                Self.pause(backoff, stop)
                backoff = min(backoff * 2, 30_000)
                continue
            }
            backoff = 500
            onDelivery?(records)
            position = records[records.count - 1].sequence
            do { try save(position) } catch {
                report("audit stream to \(target): the position \(position) cannot be saved: \(error.description)")
            }
        }
        return position
    }

    /// Sleeps `milliseconds` in short steps so a stop is seen within 100 ms.
    static func pause(_ milliseconds: Int32, _ stop: () -> Bool) {
        var left = milliseconds
        while left > 0 && !stop() {
            let step = min(left, 100)
            usleep(useconds_t(step) * 1000)
            left -= step
        }
    }
}
