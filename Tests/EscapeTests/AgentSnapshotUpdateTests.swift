import Foundation
import Testing

/// environment.json's `agentCanUpdateSnapshot` through the real binaries as root: honoured only
/// where the policy allows (`sandbox.agentSnapshotUpdates`); what a finished agent left in
/// $HOME becomes the snapshot's next layer; a layer holding a secret or a canary, or left by an
/// agent that did not finish, is never kept; and an install that leaves a secret keeps no
/// snapshot at all.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AgentSnapshotUpdateTests {
    static let environment = """
        {
          "install": "touch /opt/install-ran-$(date +%s%N)",
          "agentCanUpdateSnapshot": true
        }
        """

    /// Keeps a list of the runs that came before it in $HOME; the prompt says what else to leave.
    static let program = """
        #!/bin/sh
        echo "install runs: $(ls /opt | grep -c install-ran)"
        echo "previous: $(tr '\\n' ' ' < ~/.cache/tool/runs 2>/dev/null || echo none)"
        echo "canary: $(sed -n 's/^aws_access_key_id = //p' ~/.aws/credentials 2>/dev/null)"
        mkdir -p ~/.cache/tool && echo "run-$WARDEN_AGENT_ID" >> ~/.cache/tool/runs
        case "$(cat "$WARDEN_PROMPT_FILE")" in
          *keep-secret*) echo "//registry.test/:_authToken=$NPM_TOKEN" > ~/.npmrc ;;
          *keep-canary*) base64 -w0 ~/.aws/credentials > ~/.cache/tool/creds.b64 ;;
          *fail*) exit 3 ;;
        esac
        exit 0
        """

    let net: TestNetwork
    let agents: AgentFixture

    init() throws {
        net = try TestNetwork.shared.get()
        guard net.alive else { throw TestNetworkError(message: "the test network fixture is not running") }
        // A guarded network, so that each sandbox gets its canaries.
        agents = try AgentFixture(files: [".cursor/environment.json": Self.environment, "agent.sh": Self.program],
                                  policy: [("network.mode", "allowlist"), ("network.dnsUpstream", net.server),
                                           ("sandbox.agentSnapshotUpdates", "on")])
    }

    func run(_ prompt: String, expect state: String = "finished") -> (id: String, log: String, history: [String])? {
        guard let id = agents.start(["/workspace/agent.sh"], prompt: prompt) else { return nil }
        #expect(agents.wait(id, seconds: 120) == state, "\(agents.history(id))")
        return (id, agents.warden(["agent", "logs", id]).stdout, agents.history(id))
    }

    func line(_ log: String, _ prefix: String) -> String {
        log.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } ?? ""
    }

    var snapshotEntries: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: agents.home + "/snapshots")) ?? []).sorted()
    }

    @Test func finishedAgentsLayersAreKeptWithoutSecretsCanariesOrFailures() throws {
        let token = "npm-" + UUID().uuidString
        #expect(agents.warden(["secrets", "set", "NPM_TOKEN", "--hosts", "registry.test"], stdin: token).status == 0)

        guard let first = run("work") else { return }
        #expect(line(first.log, "previous: ") == "none", "\(first.log)")
        #expect(first.history.contains { $0.contains("kept as layer 1 of snapshot") }, "\(first.history)")
        #expect(!first.history.contains { $0.contains("agentCanUpdateSnapshot: not honoured") }, "\(first.history)")

        guard let second = run("work") else { return }
        #expect(line(second.log, "install runs: ") == "1", "install did not run again: \(second.log)")
        #expect(line(second.log, "previous: ") == "run-\(first.id) ", "the first agent's $HOME reached the second: \(second.log)")
        let firstCanary = line(first.log, "canary: "), secondCanary = line(second.log, "canary: ")
        #expect(firstCanary.hasPrefix("AKIA") && secondCanary.hasPrefix("AKIA") && firstCanary != secondCanary,
                "each sandbox has its own canaries; the first's were not kept: \(firstCanary) \(secondCanary)")
        #expect(second.history.contains { $0.contains("kept as layer 2 of snapshot") }, "\(second.history)")

        guard let leaky = run("keep-secret") else { return }
        #expect(leaky.history.contains { $0.contains("not kept: secret NPM_TOKEN is in /home/agent/.npmrc") }, "\(leaky.history)")
        guard let copier = run("keep-canary") else { return }
        #expect(copier.history.contains { $0.contains("not kept: ~/.aws/credentials") && $0.contains("/home/agent/.cache/tool/creds.b64") },
                "\(copier.history)")
        guard let failing = run("fail", expect: "failed") else { return }
        #expect(failing.history.contains { $0.contains("not kept: the agent did not finish (failed)") }, "\(failing.history)")

        guard let last = run("work") else { return }
        #expect(line(last.log, "previous: ") == "run-\(first.id) run-\(second.id) ", "only finished, clean layers were kept: \(last.log)")
        #expect(last.history.contains { $0.contains("kept as layer 3 of snapshot") }, "\(last.history)")

        // Nothing of the secret in any file Warden keeps; no build left behind.
        let grep = Warden.execute("/usr/bin/grep", ["-r", "-l", "-F", "-a", token, agents.home])
        #expect(grep.status == 1 && grep.stdout.isEmpty, "the secret is in: \(grep.stdout)")
        #expect(!snapshotEntries.contains { $0.hasPrefix(".") }, "\(snapshotEntries)")
        #expect(snapshotEntries.count == 4, "the snapshot and the three kept layers: \(snapshotEntries)")

        // Off again: the same environment no longer updates (and the policy change is a new key).
        #expect(Warden.execute(Warden.adminBinary, ["set", "sandbox.agentSnapshotUpdates", "off", "--home", agents.home]).status == 0)
        guard let refused = run("work") else { return }
        #expect(line(refused.log, "previous: ") == "none", "\(refused.log)")
        #expect(refused.history.contains { $0.contains("agentCanUpdateSnapshot: not honoured") }, "\(refused.history)")
        guard let after = run("work") else { return }
        #expect(line(after.log, "previous: ") == "none", "what the agent left was discarded: \(after.log)")
    }

    @Test func anInstallThatLeavesASecretKeepsNoSnapshot() throws {
        let fixture = try AgentFixture(files: [".cursor/environment.json": #"{"install": "echo \"//registry.test/:_authToken=$NPM_TOKEN\" > ~/.npmrc"}"#])
        let token = "npm-" + UUID().uuidString
        #expect(fixture.warden(["secrets", "set", "NPM_TOKEN", "--hosts", "registry.test"], stdin: token).status == 0)
        let program = ["/bin/sh", "-c", "grep -c _authToken ~/.npmrc"]
        for round in 1...2 {
            guard let id = fixture.start(program) else { return }
            #expect(fixture.wait(id, seconds: 120) == "finished", "round \(round): \(fixture.history(id))")
            let history = fixture.history(id)
            #expect(history.contains { $0.contains("its snapshot is not kept: secret NPM_TOKEN is in /home/agent/.npmrc") },
                    "round \(round): install ran again and its build was not kept: \(history)")
            #expect(fixture.warden(["agent", "logs", id]).stdout.contains("1"), "the agent itself had install's file")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: fixture.home + "/snapshots")) ?? []
        #expect(entries.isEmpty, "no snapshot kept, no build left behind: \(entries)")
        let grep = Warden.execute("/usr/bin/grep", ["-r", "-l", "-F", "-a", token, fixture.home])
        #expect(grep.status == 1 && grep.stdout.isEmpty, "the secret is in: \(grep.stdout)")
    }
}
