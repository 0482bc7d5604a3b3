import Foundation
import Testing

/// `warden serve` and `warden secrets` through the real binaries (as root): the caller is the
/// socket's uid, the policy decides, values travel on stdin and the socket only and are never
/// in the home in clear, and the key lives apart from it.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class SupervisorSecretsTests {
    let supervisor: SupervisorFixture
    var home: String { supervisor.home }
    var socket: String { supervisor.socket }
    var keyFile: String { supervisor.keyFile }
    var base: String { supervisor.base }
    var server: Process { supervisor.server }
    let value = "ghp_s3cr3t-" + UUID().uuidString

    init() throws {
        supervisor = try SupervisorFixture()
    }

    /// `warden secrets ARGS` as `uid` (0: root), with `stdin`.
    func secrets(_ arguments: [String], as uid: UInt32 = 0, stdin: String? = nil) -> Warden.Result {
        supervisor.warden(["secrets"] + arguments, as: uid, stdin: stdin)
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

    @Test func manyRequestsLeaveNoThreadsBehindAndOneUserCannotTakeEverySlot() throws {
        // /proc files report size 0: read them to the end.
        let maps = { String(decoding: FileHandle(forReadingAtPath: "/proc/\(self.server.processIdentifier)/maps")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            .split(separator: "\n").count }
        let before = maps()
        #expect(before >= 5, "the supervisor's mappings can be read (a static binary has about ten)")
        // 300 pings in one client process; then 20 silent connections from one uid.
        let client = """
            import socket, sys, time
            path = sys.argv[1]
            for _ in range(300):
                s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path)
                s.sendall(b'{"version":1,"operation":"ping","arguments":{}}\\n'); s.recv(4096); s.close()
            # A ping's thread gives its slot back just after its answer: under load, give the
            # last ones a moment, or an idle connection below is counted against them.
            time.sleep(1)
            idle = []
            for _ in range(20):
                s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path); idle.append(s)
            busy = sum(1 for s in idle[8:] if b'busy' in s.recv(4096))
            print(busy)
            """
        let result = Warden.execute("/usr/bin/python3", ["-c", client, socket], timeout: 60)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "12", "connections past 8 from one uid are told to retry: \(result.stdout) \(result.stderr)")
        #expect(maps() - before < 50, "finished connections' threads are reclaimed (\(before) -> \(maps()) mappings)")
        #expect(secrets(["list"], as: 4242).status == 0, "another user is still served")
    }

    @Test func sigtermStopsTheSupervisorAndRemovesItsSocket() {
        server.terminate()
        for _ in 0..<200 where server.isRunning { usleep(25_000) }
        #expect(!server.isRunning, "SIGTERM stops it even when the starter blocked the signal")
        supervisor.stop()
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test func aKeyInsideTheHomeIsRefusedAtStart() {
        let result = Warden.execute(Warden.binary, ["serve", "--home", home, "--socket", base + "/run/other.sock", "--key-file", home + "/secrets.key"], timeout: 10)
        #expect(result.status == 120, "\(result.stderr)")
        #expect(result.stderr.contains("keep it apart from the database"))
    }
}
