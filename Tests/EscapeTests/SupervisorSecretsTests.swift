import Foundation
import Testing

/// `warden serve` and `warden secrets` through the real binaries (as root): the caller is the
/// socket's uid, the policy decides, values travel on stdin and the socket only and are never
/// in the home in clear, and the key lives apart from it.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class SupervisorSecretsTests {
    let base = NSTemporaryDirectory() + "warden-serve-" + UUID().uuidString
    var home: String { base + "/home" }
    var socket: String { base + "/run/warden.sock" }
    var keyFile: String { base + "/keys/secrets.key" }
    let server = Process()
    let value = "ghp_s3cr3t-" + UUID().uuidString

    init() throws {
        try FileManager.default.createDirectory(atPath: base + "/run", withIntermediateDirectories: true)
        chmod(base, 0o755)
        _ = Warden.execute(Warden.adminBinary, ["users", "add", "alice", "--uid", "4242", "--home", home])
        _ = Warden.execute(Warden.adminBinary, ["users", "add", "ada", "--uid", "4244", "--role", "admin", "--home", home])
        _ = Warden.execute(Warden.adminBinary, ["users", "add", "otto", "--uid", "4245", "--role", "auditor", "--home", home])
        server.executableURL = URL(fileURLWithPath: Warden.binary)
        server.arguments = ["serve", "--home", home, "--socket", socket, "--key-file", keyFile]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(25_000) }
    }

    deinit {
        server.terminate()
        for _ in 0..<200 where server.isRunning { usleep(25_000) }
        if server.isRunning { kill(server.processIdentifier, SIGKILL) }
        server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: base)
    }

    /// `warden secrets ARGS` as `uid` (0: root), with `stdin`.
    func secrets(_ arguments: [String], as uid: UInt32 = 0, stdin: String? = nil) -> Warden.Result {
        let environment = ["WARDEN_SOCKET": socket, "PATH": "/usr/bin:/bin"]
        if uid == 0 { return Warden.execute(Warden.binary, ["secrets"] + arguments, environment: environment, stdin: stdin) }
        return Warden.execute("/usr/bin/setpriv", ["--reuid", "\(uid)", "--regid", "\(uid)", "--clear-groups", Warden.binary, "secrets"] + arguments,
                              environment: environment, stdin: stdin)
    }

    @Test func aMemberStoresListsAndRemovesTheirOwnSecret() throws {
        let set = secrets(["set", "GITHUB_TOKEN", "--hosts", "api.github.test,*.githubusercontent.test"], as: 4242, stdin: value + "\n")
        #expect(set.status == 0, "\(set.stderr)")
        let listed = secrets(["list", "--json"], as: 4242)
        let rows = (try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.count == 1)
        #expect(rows.first?["owner"] as? String == "alice")
        #expect(rows.first?["hosts"] as? [String] == ["*.githubusercontent.test", "api.github.test"])
        #expect(!listed.stdout.contains(value), "a listing never shows a value")
        #expect(secrets(["list"], as: 4244).stdout.contains("GITHUB_TOKEN"), "admins see every secret's metadata")
        // Nowhere in the home in clear: the store, its WAL, the policy store and its journal.
        let files = FileManager.default.enumerator(atPath: home)?.compactMap { $0 as? String } ?? []
        #expect(!files.isEmpty)
        for file in files {
            let data = FileManager.default.contents(atPath: home + "/" + file) ?? Data()
            #expect(data.range(of: Data(value.utf8)) == nil, "\(file) holds the secret in clear")
        }
        #expect(!(FileManager.default.contents(atPath: keyFile)?.isEmpty ?? true), "the key file is made apart from the home")
        #expect(secrets(["remove", "GITHUB_TOKEN"], as: 4242).status == 0)
        #expect(secrets(["remove", "GITHUB_TOKEN"], as: 4242).status == 1)
    }

    @Test func organisationSecretsAreForAdminsAndRefusalsAreRecorded() {
        let member = secrets(["set", "ORG_KEY", "--org"], as: 4242, stdin: value)
        #expect(member.status == 123, "\(member.stderr)")
        #expect(member.stderr.contains("only admins manage the organisation's secrets"))
        #expect(secrets(["set", "ORG_KEY", "--org"], as: 4245, stdin: value).status == 123, "auditors change nothing")
        #expect(secrets(["set", "ANY"], as: 4343, stdin: value).status == 123, "a uid that is not a Warden user")
        let admin = secrets(["set", "ORG_KEY", "--org", "--hosts", "api.model.test"], as: 4244, stdin: value)
        #expect(admin.status == 0, "\(admin.stderr)")
        #expect(secrets(["list"], as: 4242).stdout.contains("ORG_KEY"), "members see the organisation's secrets, not their values")
        let decisions = Warden.execute(Warden.adminBinary, ["decisions", "--home", home])
        #expect(decisions.stdout.contains("secrets set org:ORG_KEY"), "\(decisions.stdout) \(decisions.stderr)")
    }

    @Test(arguments: [
        (["set", "bad name"], "x", 125), (["set", "1ST"], "x", 125), (["set", "OK", "--hosts", "*"], "x", 125),
        (["set", "OK", "--hosts", "exa mple.test"], "x", 125), (["set", "EMPTY"], "", 125), (["remove", "NOPE"], "", 1),
    ] as [([String], String, Int32)])
    func badInputChangesNothing(_ arguments: [String], _ stdin: String, _ status: Int32) {
        let before = secrets(["list", "--json"]).stdout
        let result = secrets(arguments, stdin: stdin)
        #expect(result.status == status, "\(arguments): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(secrets(["list", "--json"]).stdout == before)
    }

    @Test func withoutASupervisorTheCommandSaysSo() {
        let result = Warden.execute(Warden.binary, ["secrets", "list", "--socket", base + "/none.sock"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("start it with `warden serve`"))
    }

    @Test func sigtermStopsTheSupervisorAndRemovesItsSocket() {
        server.terminate()
        for _ in 0..<200 where server.isRunning { usleep(25_000) }
        #expect(!server.isRunning, "SIGTERM stops it even when the starter blocked the signal")
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test func aKeyInsideTheHomeIsRefusedAtStart() {
        let result = Warden.execute(Warden.binary, ["serve", "--home", home, "--socket", base + "/run/other.sock", "--key-file", home + "/secrets.key"], timeout: 10)
        #expect(result.status == 120, "\(result.stderr)")
        #expect(result.stderr.contains("keep it apart from the database"))
    }
}
