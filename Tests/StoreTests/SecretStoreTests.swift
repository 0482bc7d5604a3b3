import Foundation
import Policy
import Store
import Testing

/// Secrets at rest (R18): sealed with AES-256-GCM, bound to their metadata, the key apart
/// from the database and refused when it is not private.
struct SecretStoreTests {
    let directory: String
    let home: String
    let keyPath: String

    init() throws {
        directory = NSTemporaryDirectory() + "warden-secrets-" + UUID().uuidString
        home = directory + "/home"
        keyPath = directory + "/keys/secrets.key"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    func store(key: String? = nil) throws -> SecretStore {
        try SecretStore(path: SecretStore.path(home: home), keys: KeyFileProvider(path: key ?? keyPath, home: home))
    }

    let token = SecretInfo(scope: .user, owner: "alice", name: "NPM_TOKEN", repository: "", hosts: ["registry.npmjs.org"], updated: 1)
    let value = Array("npm_s3cr3t-VALUE-0123456789".utf8)

    func fileBytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

    @Test func sealedRoundTripAndNeverInClearOnDisk() throws {
        let secrets = try store()
        #expect(try secrets.set(token, value: value) == false)
        #expect(try secrets.set(token, value: value) == true, "the second set replaces")
        #expect(try secrets.value(of: token) == value)
        #expect(try secrets.list(owner: "alice").map(\.name) == ["NPM_TOKEN"])
        #expect(try secrets.list(owner: "bob").isEmpty)
        let db = SecretStore.path(home: home)
        for path in [db, db + "-wal"] {
            #expect(fileBytes(path).range(of: Data(value)) == nil, "\(path) holds the value in clear")
        }
        #expect(fileBytes(keyPath).count == 32)
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o400)
        #expect(try secrets.remove(scope: .user, owner: "alice", name: "NPM_TOKEN", repository: "") == true)
        #expect(try secrets.remove(scope: .user, owner: "alice", name: "NPM_TOKEN", repository: "") == false)
    }

    @Test func aRowEditedToReachOtherHostsNoLongerOpens() throws {
        let secrets = try store()
        try secrets.set(token, value: value)
        let edit = "import sqlite3; c = sqlite3.connect('\(SecretStore.path(home: home))'); c.execute(\"UPDATE secrets SET hosts = 'webhook.site'\"); c.commit()"
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", edit]
        try python.run()
        python.waitUntilExit()
        var widened = token
        widened.hosts = ["webhook.site"]
        #expect(throws: StoreError.self) { _ = try secrets.value(of: widened) }
    }

    @Test func anotherKeyOpensNothing() throws {
        try store().set(token, value: value)
        let other = directory + "/other/secrets.key"
        #expect(throws: StoreError.self) { _ = try store(key: other).value(of: token) }
    }

    @Test func aKeyThatIsNotPrivateOrSitsInTheHomeIsRefused() throws {
        #expect(throws: StoreError.self, "inside the home") { _ = try store(key: home + "/secrets.key") }
        _ = try store()
        chmod(keyPath, 0o644)
        #expect(throws: StoreError.self, "readable by others") { _ = try store() }
        chmod(keyPath, 0o600)
        #expect(throws: Never.self) { _ = try store() }
        truncate(keyPath, 16)
        #expect(throws: StoreError.self, "wrong size") { _ = try store() }
    }
}

/// Secrets' owners are user names: "root" is uid 0's alone.
struct ReservedNameTests {
    @Test func noPolicyUserMayBeCalledRoot() {
        #expect(throws: PolicyError.self) { try PolicyUser.validateName("root") }
        #expect(throws: Never.self) { try PolicyUser.validateName("rooted") }
    }
}
