import Foundation
import Store
import Testing

/// The audit log: appends chain, verification finds the first broken record, concurrent
/// writers never fork the chain, the writer fails closed.
struct AuditStoreTests {
    func temporaryPath() -> String {
        let directory = NSTemporaryDirectory() + "warden-audit-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/audit.db"
    }

    func sample(_ index: Int, run: String = "run1", allowed: Bool = true) -> AuditRecord {
        AuditRecord(time: 1_790_000_000_000 + Int64(index), runID: run, owner: 1000, kind: .connection, proto: "tcp",
                    address: "10.0.0.\(index % 250)", port: 443, name: "host\(index).example", nameSource: "sni",
                    bytesUp: Int64(index), bytesDown: Int64(index * 2), allowed: allowed, rule: "r\(index)", reason: "because \(index)")
    }

    /// The encoding is a stored format: existing logs must keep verifying. The expected value
    /// is computed independently (Python hashlib over the documented length-prefixed fields).
    @Test func theChainEncodingIsStable() {
        let record = AuditRecord(time: 1_700_000_000_123, runID: "run1", agentID: "agent", owner: 1000, kind: .connection, proto: "tcp",
                                 address: "10.0.0.1", port: 443, name: "example.test", nameSource: "sni", bytesUp: -5, bytesDown: 123_456_789_012,
                                 durationMilliseconds: 42, allowed: true, rule: "allow:x", reason: "reason ü", flags: "raw-ip", count: 3, detail: "detail")
        #expect(AuditChain.hash(previous: AuditChain.genesis, record) == "5535ec524684ed612b9f4b41a104c50373511dac7aa6e875f8a2b4515bc62df0")
    }

    @Test func appendsChainAndVerify() throws {
        let path = temporaryPath()
        let store = try SQLiteAuditStore(path: path)
        try store.append((1...10).map { sample($0) })
        try store.append((11...20).map { sample($0, run: "run2", allowed: false) })
        let verification = try store.verify()
        #expect(verification.checked == 20)
        #expect(verification.firstBad == nil)
        #expect(try store.records(AuditQuery(runID: "run2")).count == 10)
        #expect(try store.records(AuditQuery(allowed: true)).count == 10)
        #expect(try store.records(AuditQuery(limit: 3)).map(\.sequence) == [18, 19, 20])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600, "audit records are not world-readable")
    }

    @Test(arguments: ["UPDATE audit_records SET bytes_up = 1 WHERE seq = 7", "DELETE FROM audit_records WHERE seq = 7",
                      "UPDATE audit_records SET reason = 'edited' WHERE seq = 7"])
    func verifyNamesTheFirstBrokenRecord(_ tamper: String) throws {
        let path = temporaryPath()
        let store = try SQLiteAuditStore(path: path)
        try store.append((1...12).map { sample($0) })
        let edit = Process()
        edit.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        edit.arguments = ["-c", "import sqlite3; c = sqlite3.connect('\(path)'); c.execute(\"\(tamper)\"); c.commit()"]
        try edit.run()
        edit.waitUntilExit()
        let verification = try SQLiteAuditStore(path: path, readOnly: true, create: false).verify()
        #expect(verification.firstBad == 7 || (tamper.hasPrefix("DELETE") && verification.firstBad == 8))
        #expect(verification.checked == 6)
    }

    @Test func concurrentWritersKeepOneChain() throws {
        let path = temporaryPath()
        _ = try SQLiteAuditStore(path: path)
        DispatchQueue.concurrentPerform(iterations: 4) { writer in
            guard let store = try? SQLiteAuditStore(path: path) else { return }
            for batch in 0..<10 {
                _ = try? store.append((0..<25).map { sample(writer * 1000 + batch * 25 + $0, run: "w\(writer)") })
            }
        }
        let verification = try SQLiteAuditStore(path: path).verify()
        #expect(verification.checked == 1000)
        #expect(verification.firstBad == nil)
    }

    @Test func theWriterFailsClosedWhenTheStoreCannotOpen() {
        let writer = AuditWriter { () throws(StoreError) -> any AuditStore in
            throw StoreError(.unavailable, "disk gone")
        }
        usleep(100_000)
        #expect(!writer.accepting)
        #expect(!writer.submit(sample(1)))
        #expect(writer.close()?.contains("disk gone") == true)
    }

    @Test func theWriterBatchesRecordsIntoTheStore() throws {
        let path = temporaryPath()
        let writer = AuditWriter { () throws(StoreError) -> any AuditStore in try SQLiteAuditStore(path: path) }
        for index in 0..<5000 { #expect(writer.submit(sample(index))) }
        #expect(writer.close() == nil)
        #expect(writer.written == 5000)
        #expect(try SQLiteAuditStore(path: path).verify().checked == 5000)
    }
}
