import Foundation
import Testing
@testable import Policy
@testable import Store

@Suite("Policy store")
struct StoreTests {
    final class Directory {
        let path: String
        init() {
            path = NSTemporaryDirectory() + "warden-store-" + UUID().uuidString
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    let root = Actor(uid: 0, name: "root")

    @Test("versions append with their changes; history is newest first; every version is kept whole")
    func versions() throws {
        let directory = Directory()
        let store = try SQLitePolicyStore(path: directory.path + "/policy.db")
        #expect(try store.current() == nil)
        var policy = Fixture.policy
        let first = try store.commit(policy, basedOn: 0, by: root, command: "apply a", changes: SettingChange.between(OrgPolicy(), policy), at: 100)
        policy.network.mode = .monitor
        let second = try store.commit(policy, basedOn: first, by: root, command: "set network.mode monitor",
                                      changes: [SettingChange(key: "network.mode", old: "allowlist", new: "monitor")], at: 200)
        #expect((first, second) == (1, 2))
        #expect(try store.current()?.policy == policy)
        #expect(try store.version(1)?.policy.network.mode == .allowlist)
        let history = try store.history(limit: 10)
        #expect(history.map(\.version) == [2, 1])
        #expect(history[0].changes == [SettingChange(key: "network.mode", old: "allowlist", new: "monitor")])
        #expect(history[0].time == 200 && history[0].actor == root && history[0].command == "set network.mode monitor")
        // Reopened, everything is still there.
        let reopened = try SQLitePolicyStore(path: directory.path + "/policy.db", create: false)
        #expect(try reopened.current()?.version == 2)
    }

    @Test("the run view (settings rows) equals the stored document's users and sandbox")
    func runView() throws {
        let directory = Directory()
        var policy = Fixture.policy
        policy.sandbox.memory = ByteSize(bytes: 512 << 20)
        policy.sandbox.cpus = 0.5
        policy.sandbox.timeout = PolicyDuration(seconds: 90)
        policy.sandbox.requiredLayers = [.seccomp, .landlock]
        policy.sandbox.weakening[.readWriteBind] = WeakeningGrant(roles: [.admin, .auditor], users: ["alice"])
        let store = try SQLitePolicyStore(path: directory.path + "/policy.db")
        _ = try store.commit(policy, basedOn: 0, by: root, command: "apply", changes: [], at: 1)
        let service = try PolicyService(home: directory.path, callerUID: 0)
        let view = try service.currentForRun()
        #expect(view.version == 1)
        #expect(view.policy.sandbox == policy.sandbox)
        #expect(view.policy.users.sorted { $0.name < $1.name } == policy.users.sorted { $0.name < $1.name })
        #expect(try PolicyService(home: directory.path + "/missing", callerUID: 0).currentForRun().policy == OrgPolicy.builtIn)
    }

    @Test("a commit against a stale version writes nothing")
    func conflict() throws {
        let directory = Directory()
        let store = try SQLitePolicyStore(path: directory.path + "/policy.db")
        _ = try store.commit(OrgPolicy(), basedOn: 0, by: root, command: "a", changes: [], at: 1)
        #expect { try store.commit(Fixture.policy, basedOn: 0, by: root, command: "b", changes: [], at: 2) } throws: { error in
            (error as? StoreError)?.code == .conflict
        }
        #expect(try store.history(limit: 10).count == 1)
        #expect(try store.current()?.policy == OrgPolicy())
    }

    @Test("a store from a newer Warden, or a file that is not a store, is refused")
    func refusedFiles() throws {
        let directory = Directory()
        let path = directory.path + "/policy.db"
        _ = try SQLitePolicyStore(path: path)
        let raw = try SQLiteDatabase(path: path, readOnly: false, create: false)
        try raw.execute("PRAGMA user_version = 99")
        #expect { try SQLitePolicyStore(path: path) } throws: { ($0 as? StoreError)?.code == .newerSchema }
        let junk = directory.path + "/junk.db"
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: junk))
        #expect(throws: StoreError.self) { try SQLitePolicyStore(path: junk) }
    }

    @Test("the store runs in WAL mode with synchronous FULL")
    func pragmas() throws {
        let directory = Directory()
        let path = directory.path + "/policy.db"
        _ = try SQLitePolicyStore(path: path)
        let raw = try SQLiteDatabase(path: path, readOnly: false, create: false)
        #expect(try raw.query("PRAGMA journal_mode").first?.first?.text == "wal")
        #expect(try raw.query("PRAGMA user_version").first?.first?.integer == Int64(SQLitePolicyStore.schemaVersion))
    }

    @Test("a member's refused change changes nothing and is recorded; an admin's is committed")
    func serviceRefusal() throws {
        let store = InMemoryPolicyStore()
        let admin = PolicyService(store: store, callerUID: 0)
        try admin.change("users add", at: 10) { $0.users = Fixture.policy.users }
        let member = PolicyService(store: store, callerUID: Fixture.alice.uid)
        #expect { try member.change("set network.mode open", at: 20) { $0.network.mode = .open } } throws: { error in
            let error = error as? StoreError
            return error?.code == .refused && error?.decision?.rule == "users.role"
        }
        #expect(try store.current()?.version == 1)
        #expect(try store.current()?.policy.network.mode == .allowlist)
        let recorded = try store.decisions(limit: 10)
        #expect(recorded.count == 1 && recorded[0].actor.name == "alice" && !recorded[0].decision.allowed)
        // Her own privacy setting is hers to change.
        try member.change("privacy set off --user alice", at: 30) { $0.privacy.users["alice"] = false }
        #expect(try store.current()?.policy.privacy.users["alice"] == false)
    }

    @Test("an invalid change is refused before anything is written")
    func serviceInvalid() throws {
        let store = InMemoryPolicyStore()
        let admin = PolicyService(store: store, callerUID: 0)
        #expect { try admin.change("bad", at: 1) { $0.security.allowedUsers = ["nobody-here"] } } throws: { ($0 as? StoreError)?.code == .invalid }
        #expect(try store.current() == nil)
        let dry = try admin.change("dry", at: 1, dryRun: true) { $0.network.mode = .monitor }
        let after = try store.current()
        #expect(!dry.applied && dry.changes.count == 1 && after == nil)
    }
}

@Suite("Policy store: schema and journal")
struct StoreSchemaTests {
    @Test("a schema-1 store is upgraded, its versions' settings rows filled in")
    func upgrade() throws {
        let directory = StoreTests.Directory()
        let path = directory.path + "/policy.db"
        var policy = Fixture.policy
        policy.sandbox.requiredLayers = [.seccomp, .landlock]
        let store = try SQLitePolicyStore(path: path)
        _ = try store.commit(policy, basedOn: 0, by: Actor(uid: 0, name: "root"), command: "apply", changes: [], at: 1)
        let raw = try SQLiteDatabase(path: path, readOnly: false, create: false)
        try raw.execute("DROP TABLE policy_settings; PRAGMA user_version = 1")
        #expect { try SQLitePolicyStore(path: path, readOnly: true, create: false) } throws: { ($0 as? StoreError)?.code == .outdated }
        let service = try PolicyService(home: directory.path, callerUID: 0)
        #expect(try service.currentForRun().policy.sandbox.requiredLayers == [.seccomp, .landlock])
    }

    @Test("an empty or truncated store file is refused, never read as the built-in policy")
    func emptyFile() throws {
        let directory = StoreTests.Directory()
        FileManager.default.createFile(atPath: directory.path + "/policy.db", contents: Data())
        #expect { try PolicyService(home: directory.path, callerUID: 0) } throws: { ($0 as? StoreError)?.code == .corrupt }
    }

    @Test("settings rows missing for a version refuse the run view")
    func missingRows() throws {
        let directory = StoreTests.Directory()
        let path = directory.path + "/policy.db"
        _ = try SQLitePolicyStore(path: path).commit(Fixture.policy, basedOn: 0, by: Actor(uid: 0, name: "root"), command: "a", changes: [], at: 1)
        try SQLiteDatabase(path: path, readOnly: false, create: false).execute("DELETE FROM policy_settings WHERE key = 'sandbox.requiredLayers'")
        #expect { try PolicyService(home: directory.path, callerUID: 0).currentForRun() } throws: { ($0 as? StoreError)?.code == .corrupt }
    }

    @Test("journal lines round-trip with tabs, newlines and backslashes")
    func journalLines() throws {
        let record = DecisionRecord(time: 42, actor: Actor(uid: 7, name: "x"), action: "set a\tb", decision: Decision(allowed: false, rule: "r\\1", reason: "two\nlines"))
        let line = DecisionJournal.line(record)
        #expect(line.filter { $0 == "\n" }.count == 1)
        let parsed = try #require(DecisionJournal.parse(Substring(line.dropLast()), uid: 7, name: "x"))
        #expect(parsed == record)
    }

    @Test("a policy home binds others only when it is root's all the way up")
    func trustedHomes() throws {
        let directory = StoreTests.Directory()
        chmod(directory.path, 0o755)
        #expect(PolicyHome.resolve(requested: directory.path, uid: 4242).path == directory.path || getuid() != 0)
        chmod(directory.path, 0o777)
        #expect(PolicyHome.resolve(requested: directory.path, uid: 4242).path == PolicyHome.system)
        #expect(PolicyHome.resolve(requested: directory.path, uid: 0).path == directory.path)
        #expect(PolicyHome.resolve(requested: nil, uid: 4242).path == PolicyHome.system)
    }
}
