import Agent
import Glibc
import Store
import Synchronization
import WardenSystem

/// The audit log as a security team runs it: keyed checkpoints on and a stream delivering every
/// record as it is written, beside the bare writer, in one run; then the stream's lag at a
/// steady 5,000 records/s.
enum AuditBench {
    static func run(alone: Bool = false) {
        if alone { _ = GuardBench.auditIngest() }
        print("\nAudit log: ingest through the batched writer (WAL, synchronous=FULL), bare and with keyed checkpoints + a live JSON Lines stream,"
              + " \(rounds) rounds interleaved")
        var bare: [Double] = [], full: [Double] = []
        for _ in 0..<rounds {
            bare.append(ingest(checkpoints: false, streaming: false))
            full.append(ingest(checkpoints: true, streaming: true))
        }
        let bareMedian = median(bare), fullMedian = median(full)
        if bareMedian > 0 && fullMedian > 0 {
            print("  medians: bare \(Int(bareMedian)) records/s, checkpoints + stream \(Int(fullMedian)) records/s durable (target >= 50,000);"
                  + " ratio \(GuardBench.round3(fullMedian / bareMedian))")
        }
        lag(perSecond: 5_000, seconds: 10)
    }

    static let rounds = 3

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    static func temporaryHome() -> String? {
        var template = Array("/tmp/warden-bench-audit.XXXXXX".utf8CString)
        return mkdtemp(&template).map { String(cString: $0) }
    }

    static func record(_ index: Int, time: Int64) -> AuditRecord {
        AuditRecord(time: time, runID: "bench", owner: 0, kind: .connection, proto: "tcp", address: "10.203.0.2", port: 443,
                    name: "host-\(index % 100).test", nameSource: "sni", path: "/api/items?id=\(index)", bytesUp: 1_000, bytesDown: 20_000,
                    allowed: true, rule: "allow:host.test", reason: "rule allow:host.test allows host.test port 443")
    }

    /// A stream on its own thread until `finish`.
    final class Running: @unchecked Sendable {
        // Safe: `stopping` is a Mutex; `work` is set once before it is read.
        let stopping = Mutex(false)
        var work: BackgroundWork<Void>?

        init(_ stream: AuditStream) {
            let box = UncheckedBox(stream)
            work = BackgroundWork<Void>.onOwnThread { [self] in
                _ = try? box.value.run(stop: { self.stopping.withLock { $0 } })
            }
        }

        func finish() {
            stopping.withLock { $0 = true }
            work?.wait()
        }
    }

    /// Records/s from the first submit to the last record durable.
    static func ingest(checkpoints: Bool, streaming: Bool) -> Double {
        guard let home = temporaryHome() else { return 0 }
        defer { _ = system("rm -rf '\(home)'") }
        let path = SQLiteAuditStore.path(home: home)
        let key = AuditKey(fileBytes: Host.randomBytes(32))
        let count = 100_000
        let writer = AuditWriter(capacity: count + 1, makeStore: { () throws(StoreError) -> any AuditStore in
            try SQLiteAuditStore(path: path, key: checkpoints ? key : nil)
        })
        let stream = AuditStream(home: home, target: .file(path: home + "/stream.jsonl", maxBytes: 64 << 20, keep: 4), format: .jsonl)
        let delivered = Mutex<Int64>(0)
        stream.onDelivery = { records in delivered.withLock { $0 = records.last?.sequence ?? $0 } }
        let running = streaming ? Running(stream) : nil
        let start = monotonicNanoseconds()
        for index in 0..<count { writer.submit(record(index, time: Int64(index))) }
        let failure = writer.close()
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let rate = failure == nil ? Double(writer.written) / seconds : 0
        var caughtUp = 0.0
        if let running {
            let deadline = monotonicNanoseconds() + 60_000_000_000
            while delivered.withLock({ $0 }) < Int64(count) && monotonicNanoseconds() < deadline { usleep(10_000) }
            caughtUp = Double(monotonicNanoseconds() - start) / 1e9
            running.finish()
        }
        let checkpointCount = (try? SQLiteAuditStore(path: path, readOnly: true, create: false).checkpoints().count) ?? 0
        print("  \(checkpoints ? "checkpoints + stream" : "bare writer"): \(writer.written) records in \(GuardBench.round3(seconds)) s = \(Int(rate)) records/s"
              + (checkpoints ? " (\(checkpointCount) keyed checkpoints)" : "")
              + (streaming ? "; the stream had delivered all \(delivered.withLock { $0 }) after \(GuardBench.round3(caughtUp)) s" : "")
              + (failure.map { "; failed: \($0)" } ?? ""))
        return rate
    }

    /// Records submitted at a steady `perSecond` (in 10 ms ticks); each one's lag is the time
    /// from its submit to its delivery by the stream (written and synced to the file).
    static func lag(perSecond: Int, seconds: Int) {
        guard let home = temporaryHome() else { return }
        defer { _ = system("rm -rf '\(home)'") }
        let path = SQLiteAuditStore.path(home: home)
        let key = AuditKey(fileBytes: Host.randomBytes(32))
        let writer = AuditWriter(makeStore: { () throws(StoreError) -> any AuditStore in try SQLiteAuditStore(path: path, key: key) })
        let stream = AuditStream(home: home, target: .file(path: home + "/stream.jsonl", maxBytes: 64 << 20, keep: 4), format: .jsonl)
        let lags = Mutex<[Int64]>([])
        stream.onDelivery = { records in
            let now = wallMilliseconds()
            lags.withLock { $0 += records.map { now - $0.record.time } }
        }
        let running = Running(stream)
        let ticks = seconds * 100, perTick = perSecond / 100
        let start = monotonicNanoseconds()
        var index = 0
        for tick in 0..<ticks {
            let now = wallMilliseconds()
            for _ in 0..<perTick {
                writer.submit(record(index, time: now))
                index += 1
            }
            let next = start + UInt64(tick + 1) * 10_000_000
            let current = monotonicNanoseconds()
            if next > current { usleep(useconds_t((next - current) / 1000)) }
        }
        _ = writer.close()
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while lags.withLock({ $0.count }) < index && monotonicNanoseconds() < deadline { usleep(10_000) }
        running.finish()
        let sorted = lags.withLock { $0 }.sorted()
        guard !sorted.isEmpty else {
            print("  stream lag: nothing was delivered")
            return
        }
        func percentile(_ p: Double) -> Int64 { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        print("  stream lag at \(perSecond) records/s for \(seconds) s (\(sorted.count) of \(index) delivered): p50 \(percentile(0.5)) ms,"
              + " p99 \(percentile(0.99)) ms, max \(sorted.last ?? 0) ms (target p99 < 1000 ms)")
    }
}
