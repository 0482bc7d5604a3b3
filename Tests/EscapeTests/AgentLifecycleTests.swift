import Foundation
import Testing

/// Background agents end to end through the real binaries, as root: `warden serve` starts
/// each agent's owner process, which clones as the developer, runs the agent program sealed,
/// commits inside the sandbox and pushes the branch; follow-ups, stop, privacy and the
/// policy's rules on who may do what.
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AgentLifecycleTests {
    let agents: AgentFixture

    init() throws {
        agents = try AgentFixture(files: [
            "agent.sh": """
                #!/bin/sh
                # The test agent: reads its prompt, uses its secret, edits code, answers follow-ups.
                echo "prompt: $(cat "$WARDEN_PROMPT_FILE")"
                echo "token: $API_TOKEN"
                echo "edited by the agent" > edited.txt
                echo "editing" > "$WARDEN_STATUS_FILE"
                got=0
                trap 'got=1' USR1
                i=0
                while [ $i -lt ${WAIT_TENTHS:-0} ]; do
                  if [ $got = 1 ]; then got=0; for f in "$WARDEN_FOLLOWUPS_DIR"/*; do echo "follow-up $(basename "$f"): $(cat "$f")"; done; fi
                  [ -e "$WARDEN_FOLLOWUPS_DIR/0002" ] && [ $got = 0 ] && [ -n "$STOP_AFTER_FOLLOWUP" ] && break
                  sleep 0.1; i=$((i+1))
                done
                exit 0
                """,
        ])
    }

    @Test func anAgentRunsSealedCommitsItsWorkAndItsBranchReachesTheOrigin() throws {
        let secret = "tok-" + UUID().uuidString
        #expect(agents.warden(["secrets", "set", "API_TOKEN", "--hosts", "api.model.test"], stdin: secret).status == 0)
        guard let id = agents.start(["/workspace/agent.sh"], prompt: "add edited.txt", name: "first") else { return }
        #expect(agents.wait(id) == "finished", "\(agents.history(id))")
        let agent = agents.show(id)
        #expect(agent["branch"] as? String == "warden/first")
        #expect((agent["reason"] as? String ?? "").contains("pushed"), "\(agent)")
        #expect(agents.originFile("warden/first", "edited.txt") == "edited by the agent\n", "the uncommitted edit was committed and pushed")
        #expect(agents.originFile("main", "edited.txt") == nil, "the base branch is untouched")

        let logs = agents.warden(["agent", "logs", id])
        #expect(logs.status == 0, "\(logs.stderr)")
        #expect(logs.stdout.contains("prompt: add edited.txt"), "\(logs.stdout)")
        #expect(logs.stdout.contains("token: [redacted:API_TOKEN]"), "known secret values are redacted from the log: \(logs.stdout)")
        // The secret reached the sandbox's environment and nowhere in clear on disk.
        for root in [agents.home] {
            let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
            for file in files {
                guard let data = FileManager.default.contents(atPath: root + "/" + file) else { continue }
                #expect(data.range(of: Data(secret.utf8)) == nil, "\(file) holds the secret in clear")
            }
        }
        // The change summary, computed on the host in Warden's handoff repository.
        let shown = agents.warden(["agent", "show", id]).stdout
        #expect(shown.contains("changes     1 file changed, 1 insertion(+)"), "\(shown)")
        #expect(shown.contains("edited.txt | 1 +") && shown.contains("+edited by the agent"), "diffstat and snippets: \(shown)")
        #expect(shown.contains("network     none: the sandbox had no network"), "\(shown)")
        #expect(Warden.execute(Warden.adminBinary, ["set", "security.displaySummary", "off", "--home", agents.home]).status == 0)
        let hidden = agents.warden(["agent", "show", id]).stdout
        #expect(hidden.contains("changes     1 file changed") && !hidden.contains("edited.txt |") && !hidden.contains("+edited by the agent"),
                "display agent summary off: sizes only: \(hidden)")
        #expect(hidden.contains("security.displaySummary"), "and it says why: \(hidden)")
        // Others see it only as the policy lets them (visibility: own).
        #expect(agents.warden(["agent", "logs", id], as: 4243).status == 123, "another member may not read the log")
        #expect(agents.warden(["agent", "logs", id], as: 4245).status == 0, "an auditor reads it")
    }

    @Test func followUpsReachTheRunningAgentAndTheTeamRuleDecidesWhoMaySendThem() throws {
        #expect(Warden.execute(Warden.adminBinary, ["set", "security.teamFollowUps", "off", "--home", agents.home]).status == 0)
        // STOP_AFTER_FOLLOWUP is read from the command line below (no environment passes in).
        guard let id = agents.start(["/bin/sh", "-c", "WAIT_TENTHS=300 STOP_AFTER_FOLLOWUP=1 exec /workspace/agent.sh"]) else { return }
        #expect(agents.wait(id, for: ["running"]) == "running")
        let bob = agents.warden(["agent", "follow-up", id, "from bob"], as: 4243)
        #expect(bob.status == 123 && bob.stderr.contains("team follow-ups are off"), "\(bob.stderr)")
        let admin = agents.warden(["agent", "follow-up", id, "from the admin"], as: 4244)
        #expect(admin.status == 0, "\(admin.stderr)")
        let owner = agents.warden(["agent", "follow-up", id, "-"], stdin: "from alice")
        #expect(owner.status == 0 && owner.stdout.contains("follow-up 0002"), "\(owner.stdout) \(owner.stderr)")
        #expect(agents.wait(id) == "finished", "\(agents.history(id))")
        let logs = agents.warden(["agent", "logs", id]).stdout
        #expect(logs.contains("follow-up 0001: from the admin"), "\(logs)")
        let decisions = Warden.execute(Warden.adminBinary, ["decisions", "--home", agents.home]).stdout
        #expect(decisions.contains("agent follow-up \(id)"), "refusals and grants are recorded")
        #expect(agents.warden(["agent", "follow-up", id, "late"]).status == 1, "an ended agent takes no follow-ups")
    }

    @Test func whoMayStartAgentsAndBadInputGetClearErrors() throws {
        #expect(Warden.execute(Warden.adminBinary, ["set", "security.userRestriction", "allowlist", "--home", agents.home]).status == 0)
        #expect(Warden.execute(Warden.adminBinary, ["set", "security.allowedUsers", "alice", "--home", agents.home]).status == 0)
        let bob = agents.warden(["agent", "start", "--repo", agents.origin, "--prompt", "p", "--command", "/bin/true"], as: 4243)
        #expect(bob.status == 123 && bob.stderr.contains("not on the allow list"), "\(bob.stderr)")
        let auditor = agents.warden(["agent", "start", "--repo", agents.origin, "--prompt", "p", "--command", "/bin/true"], as: 4245)
        #expect(auditor.status == 123)
        let missing = agents.warden(["agent", "start", "--repo", agents.base + "/no-such-repo", "--prompt", "p", "--command", "/bin/true"])
        #expect(missing.status == 125 && missing.stderr.contains("no-such-repo"), "\(missing.stderr)")
        let branch = agents.warden(["agent", "start", "--repo", agents.origin, "--branch", "nope", "--prompt", "p", "--command", "/bin/true"])
        #expect(branch.status == 125 && branch.stderr.contains("has no branch nope"), "\(branch.stderr)")
        let noPrompt = agents.warden(["agent", "start", "--repo", agents.origin, "--command", "/bin/true"])
        #expect(noPrompt.status == 125, "\(noPrompt.stderr)")
        let relative = agents.warden(["agent", "start", "--repo", agents.origin, "--prompt", "p", "--command", "true"])
        #expect(relative.status == 125 && relative.stderr.contains("absolute path"), "\(relative.stderr)")
        let noCommand = agents.warden(["agent", "start", "--repo", agents.origin, "--prompt", "p"])
        #expect(noCommand.status == 125 && noCommand.stderr.contains("defaults.agentCommand"), "\(noCommand.stderr)")
        for operation in [["logs"], ["stop"], ["follow-up"]] {
            let unknown = agents.warden(["agent"] + operation + ["0123456789ab"] + (operation == ["follow-up"] ? ["x"] : []))
            #expect(unknown.status == 1 && unknown.stderr.contains("no agent 0123456789ab"), "\(operation): \(unknown.stderr)")
        }
        // R19: under the disk watermark nothing starts.
        #expect(Warden.execute(Warden.adminBinary, ["set", "sandbox.minFreeDisk", "1000000T", "--home", agents.home]).status == 0)
        let full = agents.warden(["agent", "start", "--repo", agents.origin, "--prompt", "p", "--command", "/bin/true"])
        #expect(full.status == 75 && full.stderr.contains("sandbox.minFreeDisk"), "\(full.stderr)")
        #expect(Warden.execute(Warden.adminBinary, ["set", "sandbox.minFreeDisk", "1G", "--home", agents.home]).status == 0)
        let list = agents.warden(["agent", "list", "--all"])
        #expect(list.stdout.contains("no agents"), "nothing was started by refused or bad requests: \(list.stdout)")
    }

    @Test func aBadEnvironmentFileFailsTheAgentWithItsLocation() throws {
        let fixture = try AgentFixture(files: [".cursor/environment.json": "{\n  \"install\": \"true\",\n  \"unknownKey\": 1\n}\n"])
        guard let id = fixture.start(["/bin/true"]) else { return }
        #expect(fixture.wait(id) == "failed")
        let reason = fixture.show(id)["reason"] as? String ?? ""
        #expect(reason.contains("environment.json:3:") && reason.contains("unknownKey"), "\(reason)")

        // A repository whose .cursor is a link out of it: never followed (as root!).
        let linked = try AgentFixture(links: [".cursor": "/etc"])
        guard let other = linked.start(["/bin/true"]) else { return }
        #expect(linked.wait(other) == "failed")
        let why = linked.show(other)["reason"] as? String ?? ""
        #expect(why.contains(".cursor/environment.json cannot be read"), "\(why)")
    }

    @Test func privacyIsLockedAtStartAndPrivateContentIsDeletedAtCompletion() throws {
        guard let first = agents.start(["/bin/sh", "-c", "WAIT_TENTHS=15 exec /workspace/agent.sh"], prompt: "open prompt") else { return }
        #expect(agents.wait(first, for: ["running"]) == "running")
        #expect(Warden.execute(Warden.adminBinary, ["set", "privacy.default", "on", "--home", agents.home]).status == 0)
        guard let second = agents.start(["/workspace/agent.sh"], prompt: "private prompt") else { return }
        #expect(agents.wait(first) == "finished")
        #expect(agents.wait(second) == "finished")
        #expect(agents.show(first)["privacy"] as? Bool == false, "the running agent keeps the mode it started with")
        #expect(agents.show(second)["privacy"] as? Bool == true, "the next agent gets the new mode")
        #expect(agents.warden(["agent", "logs", first]).stdout.contains("open prompt"))
        let layout = agents.home + "/agents/"
        #expect(!FileManager.default.fileExists(atPath: layout + second + "/inbox/prompt"), "the prompt of a private agent is deleted")
        #expect(!FileManager.default.fileExists(atPath: layout + second + "/log"))
        #expect(FileManager.default.fileExists(atPath: layout + first + "/log"))
        #expect(agents.history(second).contains { $0.contains("privacy mode: prompt, follow-ups, log deleted") }, "\(agents.history(second))")
        #expect(agents.originFile("warden/\(second)", "edited.txt") != nil, "the work itself was still handed off")
        let summary = try String(contentsOfFile: layout + second + "/summary.json", encoding: .utf8)
        #expect(summary.contains("edited.txt") && !summary.contains("edited by the agent"), "no code is kept in privacy mode: \(summary)")
        #expect(agents.warden(["agent", "show", second]).stdout.contains("snippets    none kept (privacy mode)"))
    }

    @Test func stopEndsTheAgentAndKeepsItsWork() throws {
        guard let id = agents.start(["/bin/sh", "-c", "echo partial > partial.txt; trap '' TERM; sleep 120"]) else { return }
        #expect(agents.wait(id, for: ["running"]) == "running")
        usleep(500_000)
        #expect(agents.warden(["agent", "stop", id], as: 4243).status == 123, "a member may not stop another's agent")
        let stop = agents.warden(["agent", "stop", id])
        #expect(stop.status == 0, "\(stop.stderr)")
        // The program ignores SIGTERM: after the grace period its sandbox is killed.
        #expect(agents.wait(id, seconds: 40) == "stopped", "\(agents.history(id))")
        #expect((agents.show(id)["reason"] as? String ?? "").contains("stopped by alice"))
        #expect(agents.originFile("warden/\(id)", "partial.txt") == "partial\n")
        #expect(agents.warden(["agent", "stop", id]).status == 1, "an ended agent cannot be stopped again")
    }

    @Test func theSupervisorCanDieAndComeBackWithoutLosingOrOrphaningAgents() throws {
        guard let adopted = agents.start(["/bin/sh", "-c", "sleep 2.31; echo after > after.txt"]) else { return }
        #expect(agents.wait(adopted, for: ["running"]) == "running")
        try agents.supervisor.killAndRestart()
        #expect(agents.wait(adopted) == "finished", "the owner process outlived the supervisor: \(agents.history(adopted))")
        #expect(agents.originFile("warden/\(adopted)", "after.txt") == "after\n")

        guard let lost = agents.start(["/bin/sh", "-c", "sleep 47.31"]) else { return }
        #expect(agents.wait(lost, for: ["running"]) == "running")
        usleep(300_000)
        let ownerFile = agents.home + "/agents/\(lost)/owner.json"
        let owner = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ownerFile))) as? [String: Any]) ?? [:]
        let pid = (owner["owner"] as? [String: Any])?["pid"] as? Int ?? 0
        #expect(pid > 1)
        if pid > 1 { kill(Int32(pid), SIGKILL) }
        try agents.supervisor.killAndRestart()
        #expect(agents.wait(lost, seconds: 10) == "failed")
        #expect((agents.show(lost)["reason"] as? String ?? "").contains("owner process"), "\(agents.history(lost))")
        // The sandbox died with its owner: nothing of it is left running.
        usleep(300_000)
        let ps = Warden.execute("/usr/bin/pgrep", ["-f", "sleep 47.31"])
        #expect(ps.stdout.isEmpty, "orphaned sandbox processes: \(ps.stdout)")
    }

    @Test func nothingTheAgentPlantsInGitRunsOnTheHostDuringTheHandoff() throws {
        let marker = agents.base + "/ran-on-host"
        // Every way a repository can make git run a program: each would touch the marker on the
        // host if host git read the workspace. Inside the sandbox /tmp is private, so a hook
        // the sandboxed commit runs cannot reach it.
        let plant = """
            m=\(marker)
            git config core.fsmonitor "touch $m-fsmonitor" || true
            git config filter.evil.clean "touch $m-filter; cat" || true
            git config filter.evil.smudge "touch $m-filter; cat" || true
            echo '* filter=evil' > .gitattributes
            for hook in pre-commit post-commit pre-push reference-transaction post-checkout; do
              printf '#!/bin/sh\ntouch %s-hook\n' "$m" > .git/hooks/$hook 2>/dev/null && chmod +x .git/hooks/$hook || true
            done
            mkdir -p .git/modules/sub && printf '[core]\n\tfsmonitor = touch %s-module\n' "$m" > .git/modules/sub/config || true
            git init -q nested && git -C nested config core.fsmonitor "touch $m-nested" && echo x > nested/file
            echo planted > planted.txt
            """
        guard let id = agents.start(["/bin/sh", "-c", plant]) else { return }
        #expect(agents.wait(id) == "finished", "\(agents.history(id))")
        #expect(agents.originFile("warden/\(id)", "planted.txt") == "planted\n", "the work was handed off")
        #expect(agents.originFile("warden/\(id)", ".gitattributes") == "* filter=evil\n", "the filter attribute was planted and travelled")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: agents.base))?.filter { $0.hasPrefix("ran-on-host") } ?? []
        #expect(left.isEmpty, "agent code ran on the host: \(left)")
    }

    /// The external channel: a JSON notice per ended agent, posted by warden-notify (libcurl) to
    /// a receiver on loopback; the summary only when both summary toggles allow it.
    @Test func aWebhookGetsANoticeWithTheSummaryOnlyWhenBothTogglesAllow() throws {
        let received = agents.base + "/webhook"
        try FileManager.default.createDirectory(atPath: received, withIntermediateDirectories: true)
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        receiver.arguments = ["-c", """
            import http.server, sys
            out, count = sys.argv[1], [0]
            class Hook(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    count[0] += 1
                    open(f"{out}/notice-{count[0]}.json", "wb").write(body)
                    self.send_response(200)
                    self.end_headers()
                def log_message(self, *args): pass
            server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
            print(server.server_address[1], flush=True)
            server.timeout = 60
            for _ in range(2): server.handle_request()
            """, received]
        let out = Pipe()
        receiver.standardOutput = out
        try receiver.run()
        defer { if receiver.isRunning { kill(receiver.processIdentifier, SIGKILL) }; receiver.waitUntilExit() }
        let port = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let admin = { (arguments: [String]) in Warden.execute(Warden.adminBinary, arguments + ["--home", self.agents.home]) }
        #expect(admin(["set", "security.webhook", "http://203.0.113.9/hook"]).status != 0, "plain http only to loopback")
        #expect(admin(["set", "security.webhook", "ftp://127.0.0.1/x"]).status != 0)
        #expect(admin(["set", "security.webhook", "http://127.0.0.1:\(port)/hook?token=sekrit"]).status == 0)

        guard let first = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(first) == "finished")
        #expect(admin(["set", "security.displaySummaryExternal", "on"]).status == 0)
        guard let second = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(second) == "finished")
        // Bounded: the notice follows the final state.
        for _ in 0..<100 where !agents.history(second).contains(where: { $0.hasPrefix("webhook:") }) { usleep(100_000) }

        let withoutSummary = (try? String(contentsOfFile: received + "/notice-1.json", encoding: .utf8)) ?? ""
        #expect(withoutSummary.contains("\"agent\":\"\(first)\"") && withoutSummary.contains("\"state\":\"finished\""), "\(withoutSummary)")
        #expect(!withoutSummary.contains("edited.txt") && withoutSummary.contains("displaySummaryExternal"),
                "no summary while the external toggle is off: \(withoutSummary)")
        let withSummary = (try? String(contentsOfFile: received + "/notice-2.json", encoding: .utf8)) ?? ""
        #expect(withSummary.contains("\"agent\":\"\(second)\"") && withSummary.contains("edited.txt"), "\(withSummary)")
        let history = agents.history(second)
        #expect(history.contains { $0 == "webhook: notice delivered to http://127.0.0.1:\(port)/hook?…" }, "the token is not recorded: \(history)")
    }
}
