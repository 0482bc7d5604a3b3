import Foundation
import Testing

/// R25 and R26 through the real binaries as root, on records real agents made: members read
/// only their own records and are refused others'; an auditor reads all and the read is itself
/// recorded; query values and credential headers never reach the log; a privacy-mode agent's
/// records keep no path; the log verifies with its keyed checkpoints and an exported head.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AuditAccessTests {
    static let program = """
        #!/bin/sh
        curl -s -o /dev/null --max-time 10 -H "Authorization: Bearer bearer-$WARDEN_AGENT_ID-secret" "http://allowed.test/items/private-path?token=tok-$WARDEN_AGENT_ID-secret&page=2"
        getent hosts allowed.test >/dev/null
        exit 0
        """

    let net: TestNetwork
    let agents: AgentFixture

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
        agents = try AgentFixture(files: ["agent.sh": Self.program],
                                  policy: [("network.mode", "allowlist"), ("network.dnsUpstream", net.server), ("detection.enabled", "off")])
        // Bob's own copy of the repository (git refuses a repository another user owns).
        #expect(Warden.execute("/usr/bin/git", ["clone", "-q", "--bare", agents.base + "/seed", bobsOrigin]).status == 0)
        #expect(Warden.execute("/usr/bin/chown", ["-R", "4243:4243", bobsOrigin]).status == 0)
        for host in ["allowed.test", "\(net.server)/32"] {
            #expect(Warden.execute(Warden.adminBinary, ["network", "allow", "add", host, "--home", agents.home]).status == 0)
        }
    }

    var bobsOrigin: String { agents.base + "/bob.git" }

    func finished(as uid: UInt32) -> String? {
        let id: String
        if uid == 4243 {
            let started = agents.warden(["agent", "start", "--repo", bobsOrigin, "--prompt", "p", "--command", "/workspace/agent.sh"], as: uid)
            #expect(started.status == 0, "\(started.stderr)")
            id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            guard started.status == 0 else { return nil }
        } else {
            guard let started = agents.start(["/workspace/agent.sh"], as: uid) else { return nil }
            id = started
        }
        #expect(agents.wait(id) == "finished", "\(agents.history(id))")
        return id
    }

    func records(_ arguments: [String], as uid: UInt32) -> (status: Int32, records: [[String: Any]], stderr: String) {
        let result = agents.warden(["audit", "--json"] + arguments + (uid == 0 ? ["--home", agents.home] : []), as: uid)
        let parsed = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
        return (result.status, parsed, result.stderr)
    }

    @Test func membersReadTheirOwnAuditorsReadAllAndEveryOtherReadIsRecorded() throws {
        guard let alices = finished(as: 4242), let bobs = finished(as: 4243) else { return }

        let own = records([], as: 4242)
        #expect(own.status == 0 && !own.records.isEmpty, "\(own.stderr)")
        #expect(own.records.allSatisfy { $0["owner"] as? Int == 4242 }, "a member sees only records of their own runs and agents")
        #expect(own.records.contains { $0["agentID"] as? String == alices })
        let newest = records(["--limit", "1"], as: 4242).records
        #expect(newest.count == 1 && newest.first?["sequence"] as? Int == own.records.last?["sequence"] as? Int, "the newest one: \(newest)")

        let refused = records(["--agent", bobs], as: 4242)
        #expect(refused.status == 123 && refused.records.isEmpty, "\(refused.status) \(refused.stderr)")
        #expect(refused.stderr.contains("refused") && refused.stderr.contains("bob"), "\(refused.stderr)")
        let refusedSummary = agents.warden(["audit", "summary", "--run", alices], as: 4243)
        #expect(refusedSummary.status == 123, "\(refusedSummary.stdout) \(refusedSummary.stderr)")

        let audited = records(["--agent", bobs], as: 4245)
        #expect(audited.status == 0 && !audited.records.isEmpty && audited.records.allSatisfy { $0["owner"] as? Int == 4243 }, "\(audited.stderr)")
        let reads = records([], as: 0).records.filter { $0["kind"] as? String == "access" && $0["rule"] as? String == "audit.read" }
        #expect(reads.contains { ($0["reason"] as? String ?? "").contains("otto (auditor) read") && $0["owner"] as? Int == 4245 },
                "the auditor's read of bob's records is itself a record: \(reads)")
        #expect(!reads.contains { ($0["reason"] as? String ?? "").contains("alice") }, "a member's read of their own records is not one")
        #expect(agents.warden(["audit", "verify"], as: 4245).status == 123, "verify needs the audit key, which is root's")

        // Redacted before storage: neither the query's value nor the Authorization header is in
        // any file of the log (the database and its write-ahead log).
        let request = own.records.first { $0["kind"] as? String == "request" }
        #expect((request?["path"] as? String) == "/items/private-path?token=…&page=…", "\(String(describing: request))")
        for file in ["audit.db", "audit.db-wal"] {
            let bytes = FileManager.default.contents(atPath: agents.home + "/" + file) ?? Data()
            for secret in ["tok-\(alices)-secret", "bearer-\(alices)-secret"] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) is in \(file)")
            }
        }
    }

    @Test func aPrivacyModeAgentsRecordsKeepDestinationsNotPaths() throws {
        #expect(Warden.execute(Warden.adminBinary, ["set", "privacy.default", "on", "--home", agents.home]).status == 0)
        guard let id = finished(as: 4242) else { return }
        let mine = records(["--agent", id], as: 4242).records
        let request = mine.first { $0["kind"] as? String == "request" }
        #expect(request?["method"] as? String == "GET" && request?["name"] as? String == "allowed.test" && request?["port"] as? Int == 80,
                "\(String(describing: request))")
        #expect((request?["path"] as? String) == "", "no path is kept in privacy mode: \(String(describing: request))")
        #expect(!mine.contains { ($0["reason"] as? String ?? "").contains("private-path") }, "nor in a reason")
    }

    @Test func theLogVerifiesAndAnExportedHeadIsHeld() throws {
        guard finished(as: 4242) != nil else { return }
        let verify = agents.warden(["audit", "verify", "--home", agents.home], as: 0)
        #expect(verify.status == 0 && verify.stdout.contains("keyed checkpoint"), "\(verify.stdout) \(verify.stderr)")
        let headFile = agents.base + "/head.json"
        let head = agents.warden(["audit", "head", "--home", agents.home, "--output", headFile], as: 0)
        #expect(head.status == 0, "\(head.stderr)")
        let held = agents.warden(["audit", "verify", "--home", agents.home, "--head", headFile], as: 0)
        #expect(held.status == 0 && held.stdout.contains("the exported head"), "\(held.stdout) \(held.stderr)")
        #expect(agents.warden(["audit", "head", "--home", agents.home, "--output", headFile], as: 0).status == 125, "an existing file is not overwritten")
        // Cut the tail and the checkpoints after it, as someone with write access could.
        let cut = Warden.execute("/usr/bin/python3", ["-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1]); m = c.execute('SELECT max(seq) FROM audit_records').fetchone()[0]
            c.execute('DELETE FROM audit_records WHERE seq > ?', (m - 2,)); c.execute('DELETE FROM audit_checkpoints WHERE seq > ?', (m - 2,)); c.commit()
            """, agents.home + "/audit.db"])
        #expect(cut.status == 0, "\(cut.stderr)")
        let truncated = agents.warden(["audit", "verify", "--home", agents.home, "--head", headFile], as: 0)
        #expect(truncated.status == 1 && truncated.stderr.contains("truncated") && truncated.stderr.contains("exported head"), "\(truncated.stderr)")
    }
}
