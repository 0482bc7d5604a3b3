import Foundation
import Testing

/// Taking over a running agent, through the real binaries as root: `attach` (a shell forked by
/// the sandbox's init, inside every layer, R11), `terminals` (the environment's tmux sessions,
/// the tmux client inside the sandbox too, R12) and `ports` (a declared port forwarded to the
/// caller's loopback).
@Suite(.serialized, .enabled(if: Warden.isRoot))
final class AgentSessionTests {
    /// The test agent: records what it is (ids, namespaces, filter) where an attached shell can
    /// compare, then waits (bounded) until someone creates /workspace/done.
    static let agentScript = """
        #!/bin/sh
        {
          echo "uid $(id -u)"
          echo "self $$"
          for ns in mnt pid net user cgroup; do echo "$ns $(readlink /proc/self/ns/$ns)"; done
          grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status
        } > /tmp/agent-identity
        i=0
        while [ $i -lt 600 ] && [ ! -e /workspace/done ]; do sleep 0.1; i=$((i+1)); done
        exit 0
        """

    static let environment = """
        {
          // A terminal the agent and the developer share, and a port the developer may reach.
          "start": "mkdir -p /tmp/site && echo served-from-the-sandbox > /tmp/site/hello.txt && (cd /tmp/site && exec python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &)",
          "terminals": [{"name": "dev server", "command": "echo terminal-ready-$((6*7))", "description": "the app"}],
          "ports": [{"port": 8000, "name": "web"}]
        }
        """

    let agents: AgentFixture

    init() throws {
        agents = try AgentFixture(files: ["agent.sh": Self.agentScript, ".cursor/environment.json": Self.environment])
    }

    /// Lines `name value…` as a dictionary.
    static func fields(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if parts.count == 2 { result[parts[0].trimmingCharacters(in: CharacterSet(charactersIn: ":\t "))] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return result
    }

    @Test func anAttachedShellIsForkedInsideTheSandboxWithTheAgentsLayersAndItsWorkIsHandedOff() throws {
        guard let id = agents.start(["/workspace/agent.sh"], name: "takeover") else { return }
        #expect(agents.wait(id, for: ["running"]) == "running", "\(agents.history(id))")
        // Wait (bounded) for the agent to have written its identity.
        var shell = Warden.Result(status: -1, stdout: "", stderr: "")
        for _ in 0..<50 {
            shell = agents.warden(["agent", "attach", id], stdin: """
                test -s /tmp/agent-identity || exit 3
                {
                  echo "uid $(id -u)"
                  for ns in mnt pid net user cgroup; do echo "$ns $(readlink /proc/self/ns/$ns)"; done
                  grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status
                } > /workspace/shell-identity
                cp /tmp/agent-identity /workspace/agent-identity
                # Landlock's signal scope lets only the same domain signal the agent.
                kill -0 "$(sed -n 's/^self //p' /tmp/agent-identity)" && echo "same-domain-$((1+1))"
                echo taken-over > /workspace/attached.txt
                touch /workspace/done
                echo "ok-$((1+1))"
                exit
                """, timeout: 30)
            // Computed, so the echo of the typed script never matches.
            if shell.stdout.contains("ok-2") { break }
            usleep(200_000)
        }
        #expect(shell.status == 0 && shell.stdout.contains("ok-2"), "\(shell.stdout) \(shell.stderr)")
        #expect(shell.stdout.contains("same-domain-2"), "the shell may signal the agent: the same Landlock domain: \(shell.stdout)")
        // Both identities travel with the branch (the shell's work is the agent's).
        #expect(agents.wait(id) == "finished", "\(agents.history(id))")
        let mine = Self.fields(agents.originFile("warden/takeover", "shell-identity") ?? "")
        let agent = Self.fields(agents.originFile("warden/takeover", "agent-identity") ?? "")
        #expect(mine["uid"] == "1000", "the shell runs as the agent user: \(mine)")
        #expect(mine["Seccomp"] == "2" && mine["NoNewPrivs"] == "1", "the same filter and no_new_privs: \(mine)")
        #expect(mine["CapEff"] == "0000000000000000" && mine["CapBnd"] == "0000000000000000", "no capabilities: \(mine)")
        for key in ["uid", "mnt", "pid", "net", "user", "cgroup", "Seccomp", "NoNewPrivs", "CapEff", "CapBnd"] {
            #expect(mine[key] != nil && mine[key] == agent[key], "\(key): shell \(mine[key] ?? "-") vs agent \(agent[key] ?? "-")")
        }
        #expect(agents.originFile("warden/takeover", "attached.txt") == "taken-over\n")
        #expect(agents.history(id).contains { $0.contains("alice attached to a shell") }, "\(agents.history(id))")
        let decisions = Warden.execute(Warden.adminBinary, ["decisions", "--home", agents.home]).stdout
        #expect(decisions.contains("agent attach \(id)"), "each attach is recorded")
        let ended = agents.warden(["agent", "attach", id])
        #expect(ended.status == 1 && ended.stderr.contains("not running"), "\(ended.stderr)")
    }

    @Test func onlyTheOwnerAndAdminsMayAttachAndBadInputIsRefused() throws {
        guard let id = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(id, for: ["running"]) == "running")
        let bob = agents.warden(["agent", "attach", id], as: 4243, stdin: "touch /workspace/done\n", timeout: 20)
        #expect(bob.status == 123 && bob.stderr.contains("only alice"), "\(bob.stderr)")
        let auditor = agents.warden(["agent", "attach", id], as: 4245, stdin: "touch /workspace/done\n", timeout: 20)
        #expect(auditor.status == 123, "\(auditor.stderr)")
        #expect(agents.warden(["agent", "terminals", id], as: 4243).status == 123)
        #expect(agents.warden(["agent", "ports", id, "8000"], as: 4243).status == 123)
        let unknown = agents.warden(["agent", "attach", "0123456789ab"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no agent"), "\(unknown.stderr)")
        let badName = agents.warden(["agent", "terminals", id, "a:b"])
        #expect(badName.status == 125, "\(badName.stderr)")
        let missing = agents.warden(["agent", "terminals", id, "nope"])
        #expect(missing.status == 1 && missing.stderr.contains("no terminal nope"), "\(missing.stderr)")
        let undeclared = agents.warden(["agent", "ports", id, "22"])
        #expect(undeclared.status == 123 && undeclared.stderr.contains("not declared"), "\(undeclared.stderr)")
        // What the sandbox prints passes the escape filter (R13): no clipboard write reaches the caller.
        let admin = agents.warden(["agent", "attach", id], as: 4244,
                                  stdin: "printf 'clip\\033]52;c;cHduZWQ=\\007board-%s\\n' $((40+2))\ntouch /workspace/done\nexit\n", timeout: 20)
        #expect(admin.status == 0, "an admin may take over: \(admin.stderr)")
        #expect(admin.stdout.contains("board-42") && !admin.stdout.contains("\u{1B}]52"), "\(admin.stdout.debugDescription)")
        #expect(agents.wait(id) == "finished")
    }

    @Test func terminalsRunInTmuxInsideTheSandboxAndItsClientNeverRunsOnTheHost() throws {
        guard let id = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(id, for: ["running"]) == "running")
        var list = Warden.Result(status: -1, stdout: "", stderr: "")
        for _ in 0..<50 {
            list = agents.warden(["agent", "terminals", id])
            if list.status == 0 { break }
            usleep(200_000)
        }
        #expect(list.status == 0 && list.stdout.contains("dev-server") && list.stdout.contains("the app"), "\(list.stdout) \(list.stderr)")
        // tmux's `detach-client -E CMD` runs CMD where the client runs: here, inside the sandbox.
        let marker = "/tmp/warden-detach-\(UUID().uuidString)"
        let joined = agents.warden(["agent", "terminals", id, "dev-server"], stdin: """
            echo "in-terminal-$(id -u)-$(hostname)"
            tmux detach-client -E "touch \(marker)"

            """, timeout: 30)
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(joined.stdout.contains("terminal-ready-42"), "the terminal's command ran in the session: \(joined.stdout.suffix(2000))")
        #expect(joined.stdout.contains("in-terminal-1000-"), "\(joined.stdout.suffix(2000))")
        #expect(!FileManager.default.fileExists(atPath: marker), "detach-client -E ran on the host")
        let inside = agents.warden(["agent", "attach", id], stdin: "test -e \(marker) && echo marker-inside\ntouch /workspace/done\nexit\n", timeout: 20)
        #expect(inside.stdout.contains("marker-inside"), "the command ran inside the sandbox: \(inside.stdout)")
        #expect(agents.wait(id) == "finished")
    }

    @Test func aDeclaredPortIsForwardedToTheCallersLoopback() throws {
        guard let id = agents.start(["/workspace/agent.sh"]) else { return }
        #expect(agents.wait(id, for: ["running"]) == "running")
        let ports = agents.warden(["agent", "ports", id])
        #expect(ports.status == 0 && ports.stdout.contains("8000") && ports.stdout.contains("web"), "\(ports.stdout) \(ports.stderr)")

        let (program, arguments) = agents.supervisor.command(["agent", "ports", id, "8000", "--local", "0"], as: 4242)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = agents.supervisor.environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let done = agents.warden(["agent", "attach", id], stdin: "touch /workspace/done\nexit\n", timeout: 20)
            #expect(done.status == 0, "\(done.stderr)")
            #expect(agents.wait(id) == "finished")
        }
        // The first line names the local port (bounded read: the process prints it at once).
        var line = Data()
        let reader = out.fileHandleForReading
        let deadline = Date().addingTimeInterval(20)
        while !line.contains(0x0A) && Date() < deadline {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(text[range].split(separator: ":")[1]) else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            Issue.record("no forwarding line: \(text) \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
            return
        }
        // The web server in the sandbox answers on the caller's loopback (bounded retries: it
        // starts with the agent).
        var fetched = Warden.Result(status: -1, stdout: "", stderr: "")
        for _ in 0..<50 {
            fetched = Warden.execute("/usr/bin/curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/hello.txt"], timeout: 10)
            if fetched.stdout.contains("served-from-the-sandbox") { break }
            usleep(200_000)
        }
        #expect(fetched.stdout.contains("served-from-the-sandbox"), "\(fetched.status) \(fetched.stdout) \(fetched.stderr)")
    }
}
