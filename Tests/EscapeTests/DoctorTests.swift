import Foundation
import Testing

/// `warden doctor` through the real binary: every layer is checked, failures carry their fix,
/// and the exit status says whether anything cannot engage.
@Suite("warden doctor", .enabled(if: Warden.isRoot))
struct DoctorTests {
    static let checks = ["kernel", "user namespaces", "seccomp", "landlock", "cgroups", "idmapped mounts", "overlayfs",
                         "nftables", "veth", "default profile", "state"]

    func run(_ arguments: [String]) throws -> (status: Int32, checks: [[String: String]]) {
        let result = Warden.execute(Warden.binary, ["doctor", "--json"] + arguments)
        let data = Data(result.stdout.utf8)
        let checks = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: String]], "\(result.stdout) \(result.stderr)")
        return (result.status, checks)
    }

    @Test("every layer is checked; on this machine all of them engage")
    func allLayers() throws {
        let (status, checks) = try run([])
        #expect(checks.compactMap { $0["name"] } == Self.checks)
        for check in checks { #expect(["ok", "warning", "failure"].contains(check["status"] ?? ""), "\(check)") }
        #expect(status == (checks.contains { $0["status"] == "failure" } ? 1 : 0))
        #expect(checks.first { $0["name"] == "landlock" }?["detail"]?.contains("ABI") == true)
    }

    @Test("a failing check names its fix and makes the exit status 1")
    func failingCheck() throws {
        let (status, checks) = try run(["--workspace", "/proc"])
        let idmap = try #require(checks.first { $0["name"] == "idmapped mounts" })
        #expect(idmap["status"] == "failure")
        #expect(idmap["fix"]?.contains("--allow-degraded identity") == true)
        #expect(status == 1)
        let table = Warden.execute(Warden.binary, ["doctor", "--workspace", "/proc"])
        #expect(table.stdout.contains("FAIL  idmapped mounts"))
        #expect(table.stdout.contains("fix: put workspaces on ext4"))
    }
}
