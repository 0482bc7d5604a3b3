import Foundation
import Store
import Testing
import WardenSystem

/// R26 by attack on a real audit.db: each way of altering the log (edit a record, re-hash the
/// whole chain without the key, cut the tail, delete a range, forge a checkpoint) is named by
/// `verify`; a retention purge leaves a log that still verifies; R25's redaction happens
/// before storage.
struct AuditIntegrityTests {
    let directory = NSTemporaryDirectory() + "warden-audit-integrity-" + UUID().uuidString
    var path: String { directory + "/audit.db" }
    let key = AuditKey(fileBytes: Array("an audit key for the tests, 32b!".utf8))

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func sample(_ index: Int, time: Int64 = 1_790_000_000_000) -> AuditRecord {
        AuditRecord(time: time + Int64(index), runID: "run1", owner: 1000, kind: .connection, proto: "tcp", address: "10.0.0.\(index % 250)",
                    port: 443, name: "host\(index).example", nameSource: "sni", bytesUp: Int64(index), allowed: true, rule: "r", reason: "because \(index)")
    }

    /// A store that checkpoints every 10 records, with 35 records in it (checkpoints at 10, 20, 30).
    func filled() throws -> SQLiteAuditStore {
        let store = try SQLiteAuditStore(path: path, key: key)
        store.checkpointRecords = 10
        store.checkpointSeconds = 1_000_000_000
        for start in stride(from: 1, through: 35, by: 5) { try store.append((start..<(start + 5)).map { sample($0) }) }
        return store
    }

    /// Runs SQL against the file the way an attacker with write access would (not through Warden).
    func tamper(_ statements: String) throws {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()", path, statements]
        try python.run()
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)
    }

    func verify(head: AuditHead? = nil, key: AuditKey? = nil) throws -> AuditVerification {
        try SQLiteAuditStore(path: path, readOnly: true, create: false, key: key ?? self.key).verify(head: head)
    }

    @Test func hmacMatchesRFC4231() {
        // Test cases 1 and 6 (a key longer than the block).
        #expect(hexString(HMACSHA256.mac(key: [UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(hexString(HMACSHA256.mac(key: [UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func anIntactLogVerifiesWithItsCheckpoints() throws {
        _ = try filled()
        let result = try verify()
        #expect(result.problem == nil && result.checked == 35 && result.checkpoints == 3, "\(result)")
    }

    @Test func anEditedRecordIsNamed() throws {
        _ = try filled()
        try tamper("UPDATE audit_records SET name = 'elsewhere.example' WHERE seq = 17")
        let result = try verify()
        #expect(result.firstBad == 17, "\(result)")
        #expect(result.problem?.contains("record 17 does not match its hash") == true, "\(result)")
    }

    @Test func aChainRehashedWithoutTheKeyFailsAtTheFirstCheckpoint() throws {
        _ = try filled()
        // Change record 3, then recompute every hash from it on, as anyone could: the chain is
        // self-consistent again, but the keyed checkpoint at record 10 no longer matches.
        let records = try SQLiteAuditStore(path: path, readOnly: true, create: false).records(AuditQuery())
        var previous = AuditChain.genesis
        var script = ""
        for stored in records {
            var record = stored.record
            if stored.sequence == 3 { record.name = "rewritten.example" }
            previous = AuditChain.hash(previous: previous, record)
            script += "UPDATE audit_records SET name = '\(record.name)', hash = '\(previous)' WHERE seq = \(stored.sequence);\n"
        }
        try tamper(script)
        let result = try verify()
        #expect(result.firstBad == 10, "\(result)")
        #expect(result.problem?.contains("the chain was rewritten") == true && result.problem?.contains("keyed checkpoint 1") == true, "\(result)")
        // Rewriting the checkpoints' hashes too needs their MACs, which need the key.
        let rewritten = try SQLiteAuditStore(path: path, readOnly: true, create: false).records(AuditQuery())
        var update = ""
        for sequence in [10, 20, 30] { update += "UPDATE audit_checkpoints SET hash = '\(rewritten[sequence - 1].hash)' WHERE seq = \(sequence);\n" }
        try tamper(update)
        let forged = try verify()
        #expect(forged.problem?.contains("checkpoint 1") == true && forged.problem?.contains("is not genuine") == true, "\(forged)")
    }

    @Test func aCutTailIsFoundByTheCheckpointsAndByAnExportedHead() throws {
        let store = try filled()
        let head = try #require(try store.exportHead())
        #expect(head.sequence == 35 && head.isGenuine(key))
        try tamper("DELETE FROM audit_records WHERE seq > 32")
        let byCheckpoint = try verify()
        #expect(byCheckpoint.problem?.contains("the log was truncated") == true, "the head's own checkpoint covers record 35: \(byCheckpoint)")
        // The attacker also removes every checkpoint after the cut: only the head kept elsewhere shows it.
        try tamper("DELETE FROM audit_checkpoints WHERE seq > 30")
        #expect(try verify().problem == nil, "what is left is consistent")
        let byHead = try verify(head: head)
        #expect(byHead.firstBad == 33, "\(byHead)")
        #expect(byHead.problem?.contains("the log was truncated: the exported head") == true && byHead.problem?.contains("record 35") == true, "\(byHead)")
    }

    @Test func theAnchorBesideTheKeyShowsACutTailWithItsCheckpointsGone() throws {
        let anchored = AuditKey(fileBytes: Array("an audit key for the tests, 32b!".utf8), anchorPath: directory + "/anchor.json")
        let store = try SQLiteAuditStore(path: path, key: anchored)
        store.checkpointRecords = 10
        store.checkpointSeconds = 1_000_000_000
        for start in stride(from: 1, through: 35, by: 5) { try store.append((start..<(start + 5)).map { sample($0) }) }
        try store.checkpoint(reason: "stop")
        // No head kept by hand: cut the tail and every checkpoint after the cut.
        try tamper("DELETE FROM audit_records WHERE seq > 27; DELETE FROM audit_checkpoints WHERE seq > 27")
        let result = try verify(key: anchored)
        #expect(result.problem?.contains("truncated: the anchor beside the audit key") == true && result.problem?.contains("record 35") == true, "\(result)")
        // A forged anchor does not help either.
        try Data("{\"format\":\"warden-audit-head-v1\",\"sequence\":27,\"hash\":\"00\",\"time\":0,\"mac\":\"00\"}".utf8)
            .write(to: URL(fileURLWithPath: directory + "/anchor.json"))
        #expect(try verify(key: anchored).problem?.contains("is not genuine") == true)
    }

    @Test func aHeadOlderThanThePurgedPrefixIsNotVouchedFor() throws {
        let store = try filled()
        let head = try #require(try store.exportHead())
        try store.append((36...50).map { sample($0, time: 1_800_000_000_000) })
        try store.checkpoint(reason: "stop")
        let purged = try store.purge(before: 1_795_000_000_000) { _, _, _ in
            AuditRecord(time: 1_800_000_001_000, runID: "", owner: 0, kind: .access, proto: "", allowed: true, rule: "retention.audit", reason: "purged")
        }
        #expect(purged?.last == 35)
        let result = try verify(head: head)
        #expect(result.problem?.contains("no longer in the log") == true, "\(result)")
    }

    @Test func onlyRecordsAKeyedCheckpointCoversArePurged() throws {
        let store = try SQLiteAuditStore(path: path, key: key)
        store.checkpointRecords = 10
        store.checkpointSeconds = 1_000_000_000
        try store.append((1...10).map { sample($0) })  // checkpoint at 10
        try store.append((11...15).map { sample($0) })  // old too, but no checkpoint covers them yet
        let purged = try store.purge(before: Int64.max) { _, _, _ in
            AuditRecord(time: 1, runID: "", owner: 0, kind: .access, proto: "", allowed: true, rule: "retention.audit", reason: "purged")
        }
        #expect(purged == AuditPurge(first: 1, last: 10, count: 10))
        #expect(try verify().problem == nil)
    }

    @Test func aDeletedRangeAndAForgedCheckpointAreNamed() throws {
        _ = try filled()
        try tamper("DELETE FROM audit_records WHERE seq BETWEEN 12 AND 14")
        let gap = try verify()
        #expect(gap.problem?.contains("records 12…14 are missing") == true, "\(gap)")
        let other = AuditKey(fileBytes: Array("somebody else's key, not Warden.".utf8))
        let forged = try verify(key: other)
        #expect(forged.problem?.contains("is not genuine") == true, "checkpoints made with another key: \(forged)")
    }

    @Test func aPurgeRemovesOldRecordsAndTheRestStillVerifies() throws {
        let store = try filled()
        try store.append((36...40).map { sample($0, time: 1_800_000_000_000) })
        let purge = try #require(try store.purge(before: 1_795_000_000_000) { first, last, count in
            AuditRecord(time: 1_800_000_001_000, runID: "", owner: 0, kind: .access, proto: "", allowed: true, rule: "retention.audit",
                        reason: "records \(first)…\(last) (\(count)) purged")
        })
        #expect(purge == AuditPurge(first: 1, last: 35, count: 35))
        let remaining = try store.records(AuditQuery())
        #expect(remaining.map(\.sequence) == Array(36...41), "\(remaining.map(\.sequence))")
        #expect(remaining.last?.record.reason == "records 1…35 (35) purged")
        let result = try verify()
        #expect(result.problem == nil && result.checked == 6, "\(result)")
        // Deleting more by hand is still found: the keyed checkpoint says where the chain begins.
        try tamper("DELETE FROM audit_records WHERE seq = 36")
        #expect(try verify().problem?.contains("records 36…36 are missing") == true)
    }

    @Test func aPurgeIsRefusedOnABrokenChain() throws {
        let store = try filled()
        try tamper("UPDATE audit_records SET reason = 'hidden' WHERE seq = 2")
        #expect(throws: StoreError.self) {
            _ = try store.purge(before: Int64.max) { _, _, _ in AuditRecord(time: 0, runID: "", owner: 0, kind: .access, proto: "", allowed: true, rule: "", reason: "") }
        }
        #expect(try SQLiteAuditStore(path: path, readOnly: true, create: false).records(AuditQuery()).count == 35, "nothing was removed")
    }

    @Test func queryValuesAndCredentialHeadersAreRedactedBeforeStorage() throws {
        let store = try SQLiteAuditStore(path: path, key: key)
        var record = sample(1)
        record.path = "/api/v1/items?token=s3cr3t-value&page=2"
        record.reason = "refused GET /x?api_key=abcdef123 with Authorization: Bearer eyJhbGciOi.secret; next"
        record.detail = "header Proxy-Authorization: Basic dXNlcjpwYXNz\nCookie: a=1; session=abc123\n{\"Authorization\" : \"Bearer json-secret\", \"x\": 1}"
        try store.append([record])
        let raw = try String(contentsOfFile: path, encoding: .isoLatin1)
        for secret in ["s3cr3t-value", "abcdef123", "eyJhbGciOi", "dXNlcjpwYXNz", "session=abc123", "json-secret"] {
            #expect(!raw.contains(secret), "\(secret) reached the file")
        }
        let stored = try #require(try store.records(AuditQuery()).first?.record)
        #expect(stored.path == "/api/v1/items?token=…&page=…")
        #expect(stored.reason == "refused GET /x?api_key=… with Authorization: …", "\(stored.reason)")
        #expect(stored.detail == "header Proxy-Authorization: …\nCookie: …\n{\"Authorization\" : \"…\", \"x\": 1}", "\(stored.detail)")
        #expect(try store.verify().problem == nil, "the chain covers the stored (redacted) record")
    }

    @Test func privacyModeKeepsDestinationsAndDecisionsOnly() throws {
        let writer = AuditWriter(redaction: AuditRedaction(privateContent: true)) { () throws(StoreError) -> any AuditStore in
            let store = try SQLiteAuditStore(path: path, key: key)
            store.checkpointRecords = 1000
            store.checkpointSeconds = 1_000_000_000
            return store
        }
        var record = sample(1, time: wallMilliseconds())
        record.method = "POST"
        record.path = "/private/project/upload"
        record.reason = "refused POST /private/project/upload to host1.example"
        writer.submit(record)
        #expect(writer.close() == nil)
        let stored = try #require(try SQLiteAuditStore(path: path, readOnly: true, create: false).records(AuditQuery()).first?.record)
        #expect(stored.path.isEmpty && stored.method == "POST" && stored.name == "host1.example" && stored.port == 443 && stored.address == "10.0.0.1")
        #expect(!stored.reason.contains("/private"), "\(stored.reason)")
        #expect(try SQLiteAuditStore(path: path, readOnly: true, create: false).checkpoints().last?.reason == "stop",
                "the writer's clean stop left a keyed checkpoint")
    }

    @Test func aVersionOneLogIsUpgradedAndKeepsVerifying() throws {
        try tamper("""
            CREATE TABLE audit_records (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, run_id TEXT NOT NULL, agent_id TEXT NOT NULL,
              owner INTEGER NOT NULL, kind TEXT NOT NULL, proto TEXT NOT NULL, address TEXT NOT NULL, port INTEGER NOT NULL, name TEXT NOT NULL,
              name_source TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL,
              duration_ms INTEGER NOT NULL, allowed INTEGER NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL, flags TEXT NOT NULL,
              count INTEGER NOT NULL, detail TEXT NOT NULL, hash TEXT NOT NULL);
            CREATE INDEX audit_records_run ON audit_records(run_id);
            CREATE INDEX audit_records_time ON audit_records(time);
            PRAGMA user_version = 1;
            """)
        let store = try SQLiteAuditStore(path: path, key: key)
        try store.append([sample(1), sample(2)])
        try store.checkpoint(reason: "stop")
        let result = try verify()
        #expect(result.problem == nil && result.checked == 2 && result.checkpoints >= 1, "\(result)")
    }
}
