import Foundation
import Store
import Testing

/// The stream's JSON line is what the generic encoder writes for the same record (the export
/// and `--json`), byte for byte, escapes included.
struct AuditJSONTests {
    @Test func theFastLineIsTheEncodersLine() throws {
        let record = AuditRecord(time: 1_790_000_000_123, runID: "run\"1", agentID: "a\\b", owner: 4242, kind: .flag, proto: "tcp",
                                 address: "10.0.0.1", port: 443, name: "host.test", nameSource: "sni", method: "POST",
                                 path: "/a/b?c=…", bytesUp: -1, bytesDown: 123_456_789, durationMilliseconds: 7, allowed: false,
                                 rule: "exfil.8.planted-value", reason: "line\nbreak\ttab \u{1}control \u{7f} ü 漢字 \"quoted\" back\\slash",
                                 flags: "exfil.8.planted-value,raw-ip", count: 3, detail: "severity=critical; where=body")
        let stored = StoredAuditRecord(sequence: 42, record: record, hash: String(repeating: "ab", count: 32))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let expected = String(decoding: try encoder.encode(AuditJSON(stored)), as: UTF8.self)
        #expect(AuditJSON.line(stored) == expected)
        var empty = stored
        empty.record.flags = ""
        #expect(AuditJSON.line(empty) == String(decoding: try encoder.encode(AuditJSON(empty)), as: UTF8.self))
    }
}
