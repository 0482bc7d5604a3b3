import Foundation
import Policy
import Testing
@testable import Agent

/// The snapshot directory's bookkeeping: agents' layers are swept once no snapshot names them,
/// never while an agent of that key runs, and with their snapshot when it expires. Also the
/// secret scan that guards what a snapshot keeps.
struct SnapshotStoreTests {
    let home = NSTemporaryDirectory() + "warden-snapshots-" + UUID().uuidString
    static let key = String(repeating: "ab", count: 32)

    func makeSnapshot(updates: [String], used: Int64) throws -> SnapshotStore {
        let store = SnapshotStore(home: home)
        try FileManager.default.createDirectory(atPath: store.directory(Self.key), withIntermediateDirectories: true)
        var snapshot = EnvironmentSnapshot(key: Self.key, idBase: 100_000, created: used, agent: "a", installMilliseconds: 1)
        snapshot.updates = updates.map { EnvironmentSnapshot.Update(directory: $0, idBase: 200_000, agent: "b", created: used) }
        try JSONEncoder().encode(snapshot).write(to: URL(fileURLWithPath: store.directory(Self.key) + "/snapshot.json"))
        return store
    }

    func entries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: home + "/snapshots")) ?? []).sorted() }

    @Test func agentsLayersGoWhenNoSnapshotNamesThemOrWithTheirSnapshot() throws {
        defer { try? FileManager.default.removeItem(atPath: home) }
        let kept = Self.key + "-0123456789abcdef", replaced = Self.key + "-fedcba9876543210"
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let store = try makeSnapshot(updates: [kept], used: now)
        for name in [kept, replaced, "not-a-layer"] {
            try FileManager.default.createDirectory(atPath: home + "/snapshots/" + name + "/home/upper", withIntermediateDirectories: true)
        }
        #expect(SnapshotStore.isUpdate(kept) && !SnapshotStore.isUpdate("not-a-layer") && !SnapshotStore.isUpdate(Self.key))

        _ = store.sweep(policy: OrgPolicy(), now: now, dryRun: false, inUse: [Self.key])
        #expect(entries().contains(replaced), "an agent of that key still runs (it may have started on that layer)")
        _ = store.sweep(policy: OrgPolicy(), now: now, dryRun: false)
        #expect(entries() == [Self.key, kept, "not-a-layer"].sorted(), "only the layer no snapshot names went: \(entries())")

        let later = now + 4 * 86_400_000
        let swept = store.sweep(policy: OrgPolicy(), now: later, dryRun: false)
        #expect(swept.removed == [Self.key] && swept.failures.isEmpty, "\(swept)")
        #expect(entries() == ["not-a-layer"], "the expired snapshot went with its layers: \(entries())")
    }

    @Test func theScanFindsValuesInContentNamesLinksAndEncodingsAndFailsClosed() throws {
        defer { try? FileManager.default.removeItem(atPath: home) }
        let secret = GivenSecret(name: "NPM_TOKEN", value: "npm-" + UUID().uuidString, hosts: [])
        func finding(_ setUp: (String) throws -> Void) throws -> String? {
            try? FileManager.default.removeItem(atPath: home)
            let upper = home + "/home/upper"
            try FileManager.default.createDirectory(atPath: upper + "/.cache", withIntermediateDirectories: true)
            try Data("nothing here\n".utf8).write(to: URL(fileURLWithPath: upper + "/.profile"))
            try setUp(upper)
            return AgentOwner.secretIn(home, secrets: [secret], canaries: []).map(\.description)
        }
        #expect(try finding { _ in } == nil)
        // Spread across the scan's 1 MiB chunks: a value split between two is still found.
        #expect(try finding { upper in
            var bytes = [UInt8](repeating: 0x2e, count: (1 << 20) - 7) + Array(secret.value.utf8) + [0x0a]
            bytes += [UInt8](repeating: 0x2e, count: 100)
            try Data(bytes).write(to: URL(fileURLWithPath: upper + "/.cache/big"))
        } == "secret NPM_TOKEN is in /home/agent/.cache/big (plain)")
        #expect(try finding { upper in
            try Data(Data(secret.value.utf8).base64EncodedString().utf8).write(to: URL(fileURLWithPath: upper + "/.npmrc"))
        }?.hasPrefix("secret NPM_TOKEN is in /home/agent/.npmrc (base64") == true)
        #expect(try finding { upper in
            try FileManager.default.createSymbolicLink(atPath: upper + "/link", withDestinationPath: "/x/" + secret.value)
        } == "secret NPM_TOKEN is in /home/agent/link (its link target) (plain)")
        #expect(try finding { upper in
            FileManager.default.createFile(atPath: upper + "/.cache/" + secret.value, contents: nil)
        }?.contains("(its name)") == true)
        #expect(try finding { upper in
            FileManager.default.createFile(atPath: upper + "/.cache/unreadable", contents: Data("x".utf8))
            mkfifo(upper + "/.cache/fifo", 0o600)
            chmod(upper + "/.cache/unreadable", 0)
        } == nil, "root reads a mode-0 file (nothing in it); a fifo has no content and is not opened")
        #expect(try finding { upper in
            try FileManager.default.createDirectory(atPath: upper + String(repeating: "/d", count: 260), withIntermediateDirectories: true)
        }?.contains("cannot be read to check it for secrets: nested deeper than 256") == true, "what is not read is not vouched for")
    }
}
