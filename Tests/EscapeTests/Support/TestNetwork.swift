import Foundation
import Testing

/// Simulated "external" hosts for the network guard's tests: Fixtures/net/testnet.py runs a
/// DNS server, HTTP/HTTPS, git and a package index in a network namespace this test process
/// creates (never any other address). One per test process, torn down when the process ends
/// (the fixture stops when its stdin pipe closes).
final class TestNetwork: @unchecked Sendable {
    // Safe: set once in `start` before the shared instance is published, read-only afterwards.
    let subnet: Int
    let state: String
    let ready: [String: Any]
    private let process: Process
    private let input: Pipe

    /// nil when the fixture could not start (not root, or no ip/openssl): tests then fail with its error.
    static let shared: Result<TestNetwork, TestNetworkError> = start()

    var server: String { "10.203.\(subnet).2" }
    var other: String { "10.203.\(subnet).3" }
    var hostSide: String { "10.203.\(subnet).1" }
    var serverV6: String { "fd00:203:\(subnet)::2" }
    var caPath: String { state + "/ca.pem" }

    private init(subnet: Int, state: String, ready: [String: Any], process: Process, input: Pipe) {
        self.subnet = subnet
        self.state = state
        self.ready = ready
        self.process = process
        self.input = input
    }

    private static func start() -> Result<TestNetwork, TestNetworkError> {
        // Should the fixture die, its addresses must not route out of this machine: the
        // blackholes are less specific than the fixture's own routes and catch the rest.
        _ = Warden.execute("/usr/sbin/ip", ["route", "replace", "blackhole", "10.203.0.0/16"])
        _ = Warden.execute("/usr/sbin/ip", ["-6", "route", "replace", "blackhole", "fd00:203::/32"])
        let pid = Int(getpid())
        var lastError = "no attempt"
        for attempt in 0..<4 {
            let subnet = 100 + (pid + attempt * 37) % 100
            let name = "w\(subnet)"
            let state = NSTemporaryDirectory() + "warden-testnet-\(pid)-\(attempt)"
            try? FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [Warden.repository + "/Tests/EscapeTests/Fixtures/net/testnet.py", "--name", name, "--subnet", "\(subnet)",
                                 "--state", state, "--ttl", "1800"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            do { try process.run() } catch {
                lastError = "cannot start testnet.py: \(error)"
                continue
            }
            // Bounded wait for ready.json (written when every service listens).
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && process.isRunning {
                if let data = FileManager.default.contents(atPath: state + "/ready.json"),
                   let ready = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    return .success(TestNetwork(subnet: subnet, state: state, ready: ready, process: process, input: input))
                }
                usleep(50_000)
            }
            lastError = "testnet.py (subnet \(subnet)) did not become ready"
            process.terminate()
        }
        return .failure(TestNetworkError(message: lastError))
    }

    /// The fixture still serves (a test must not run against addresses nobody holds).
    var alive: Bool { process.isRunning }

    /// Lines of one of the fixture's JSON logs (dns.log, http.log).
    func log(_ name: String) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: state + "/" + name) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

struct TestNetworkError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A Warden home of its own (policy store and audit log) for one test.
final class GuardedRun: Sendable {
    let home: String
    let net: TestNetwork

    /// `settings`: policy keys set in this home before any run. The guard always trusts the
    /// test CA for upstream certificates (the test hosts' certificates are signed by it).
    init(_ net: TestNetwork, settings: [(String, String)] = [], allows: [String]? = nil, mode: String = "allowlist") {
        self.net = net
        self.mode = mode
        self.allows = allows ?? ["allowed.test", "pypi.test", "git.test", "v6.test", "alias.test", "rebind.test", "metadata.test", "private.test",
                                 "webhook.test", "\(net.server)/32", "[\(net.serverV6)/128]"]
        home = NSTemporaryDirectory() + "warden-home-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        for (key, value) in [("network.tlsTrustedCAs", net.caPath)] + settings {
            let result = Warden.execute(Warden.adminBinary, ["set", key, value, "--home", home])
            precondition(result.status == 0, "warden-admin set \(key): \(result.stderr)")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: home) }

    /// The test policy: the test zone's names, the test host by address, one deny rule. The
    /// explicit proxy the sandbox is offered is bypassed (no_proxy=*), so that these tests
    /// exercise transparent capture; the proxy's own tests clear it (`viaProxy`).
    var options: [String] {
        ["--net", mode, "--dns-upstream", net.server, "--env", "no_proxy=*", "--env", "NO_PROXY=*"]
            + allows.flatMap { ["--allow", $0] } + ["--deny", "denied.test"]
    }

    /// The allow rules of every run (`--allow`); the default covers the test zone's names and
    /// the test host's addresses.
    let allows: [String]
    /// The network mode of every run (`--net`).
    let mode: String

    /// Extra options that leave the offered HTTP_PROXY/HTTPS_PROXY in effect.
    static let viaProxy = ["--env", "no_proxy=localhost", "--env", "NO_PROXY=localhost"]

    var environment: [String: String] { ["WARDEN_HOME": home, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"] }

    func run(_ extra: [String] = [], _ command: [String], in workspace: Workspace, timeout: Double = 60) -> Warden.Result {
        Warden.run(options + extra, command, in: workspace, environment: environment, timeout: timeout)
    }

    /// The audit records of one run, through `warden audit --json`.
    func audit(run: String) -> [[String: Any]] {
        let result = Warden.execute(Warden.binary, ["audit", "--home", home, "--run", run, "--json"], environment: environment)
        return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
    }
}

extension Warden.Result {
    var runID: String { manifest?["runID"] as? String ?? "" }
}
