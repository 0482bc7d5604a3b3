import Foundation
import Testing

/// Escape attempts against processes, limits and what the sandbox inherits.
@Suite("Escape: processes, limits, inheritance", .enabled(if: Warden.isRoot))
struct ProcessEscapeTests {
    @Test("a host process cannot be seen or killed from inside")
    func hostProcess() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
        let pid = sleeper.processIdentifier
        let workspace = Workspace()
        let script = "kill -9 \(pid) 2>/dev/null && echo KILLED; test -e /proc/\(pid) && echo SEEN; ls /proc | grep -c '^[0-9]'"
        let result = Warden.run([], ["sh", "-c", script], in: workspace)
        #expect(!result.stdout.contains("KILLED"))
        #expect(!result.stdout.contains("SEEN"))
        #expect((Int(result.lastLine) ?? 99) <= 5, "only the sandbox's own processes are visible: \(result.stdout)")
        #expect(sleeper.isRunning)
    }

    @Test("pid 1 is Warden's init; the workload is its child")
    func initIsPidOne() {
        let workspace = Workspace()
        let result = Warden.run([], ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$; cat /proc/self/stat | cut -d' ' -f4"], in: workspace)
        let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.first == "warden-init", "pid 1 shows no caller options: \(lines)")
        #expect(lines.count >= 2 && lines[1] == "2")
    }

    @Test("/proc/1/exe, /proc/1/mem and /proc/1/environ cannot be opened (R10)", arguments: ["proc_exe", "proc_mem", "proc_mem_write", "proc_environ"])
    func initIsNotADoor(_ name: String) {
        #expect(attack(name).line == "BLOCKED EACCES")
    }

    @Test("every capability set is empty, no_new_privs is set, seccomp filters are installed", arguments: [false, true])
    func capabilities(_ userProfile: Bool) {
        let workspace = Workspace()
        let options = userProfile ? ["--seccomp", Warden.repository + "/../shared/compat/docker-seccomp-default.json"] : []
        let result = Warden.run(options, ["grep", "-E", "^(Cap|NoNewPrivs|Seccomp)", "/proc/self/status"], in: workspace)
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(result.stdout.contains("\(set):\t0000000000000000"), "\(set) not empty: \(result.stdout)")
        }
        #expect(result.stdout.contains("NoNewPrivs:\t1"))
        #expect(result.stdout.contains("Seccomp:\t2"))
        // A user's profile runs on top of the separate baseline filter; the shipped one contains it.
        #expect(result.stdout.contains("Seccomp_filters:\t\(userProfile ? 2 : 1)"))
    }

    @Test("a fork bomb stops at the pids limit")
    func forkBomb() {
        let (line, result) = attack("fork_bomb", options: ["--pids", "32"], ["200"])
        let forked = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 999
        #expect(forked < 32, "\(line)")
        #expect(line.contains("FAILED"), "\(line)")
        #expect((result.manifest?["limits"] as? [String: Any])?["pidsLimitReached"] as? Bool == true)
    }

    @Test("a memory bomb is killed at the memory limit and reported as such")
    func memoryBomb() {
        let (_, result) = attack("memory_bomb", options: ["--memory", "64M"], ["512"])
        #expect(result.status == 137, "\(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("ALLOCATED 512"))
        #expect(result.stderr.contains("out-of-memory"))
        #expect((result.manifest?["limits"] as? [String: Any])?["outOfMemory"] as? Bool == true)
        #expect((result.manifest?["exit"] as? [String: Any])?["reason"] as? String == "out-of-memory")
    }

    @Test("--timeout kills the whole sandbox and exits 124")
    func timeout() {
        let workspace = Workspace()
        let started = Date()
        let result = Warden.run(["--timeout", "1"], ["sh", "-c", "sleep 30 & sleep 30"], in: workspace, timeout: 20)
        #expect(result.status == 124)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(result.stderr.contains("timed out after 1s"))
        #expect((result.manifest?["limits"] as? [String: Any])?["timedOut"] as? Bool == true)
    }

    @Test("no process survives when warden itself is killed")
    func noSurvivor() throws {
        let workspace = Workspace()
        let marker = "\(Int.random(in: 100_000...999_999)).5"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Warden.binary)
        process.arguments = ["run", "--", "sh", "-c", "sleep \(marker) & sleep \(marker); true"]
        process.currentDirectoryURL = URL(fileURLWithPath: workspace.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        #expect(waitUntil(seconds: 10) { processes(matching: marker) >= 2 }, "the sandbox started")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(waitUntil(seconds: 10) { processes(matching: marker) == 0 }, "sandbox processes survived warden")
    }

    @Test("the caller's secrets in the environment do not reach the sandbox (R1)")
    func environment() {
        let workspace = Workspace()
        var environment = ProcessInfo.processInfo.environment
        environment["GITHUB_TOKEN"] = "ghp_callersecret"
        environment["AWS_SECRET_ACCESS_KEY"] = "aws-callersecret"
        environment["SSH_AUTH_SOCK"] = "/tmp/ssh-agent.sock"
        environment["LD_PRELOAD"] = "/tmp/evil.so"
        environment["PASSED_ON_PURPOSE"] = "visible"
        let result = Warden.run(["--env", "SET_HERE=1", "--env-pass", "PASSED_ON_PURPOSE"], ["env"], in: workspace, environment: environment)
        for secret in ["ghp_callersecret", "aws-callersecret", "SSH_AUTH_SOCK", "LD_PRELOAD"] {
            #expect(!result.stdout.contains(secret), "\(secret) leaked")
        }
        #expect(result.stdout.contains("PASSED_ON_PURPOSE=visible"))
        #expect(result.stdout.contains("SET_HERE=1"))
        #expect(result.stdout.contains("HOME=/home/agent"))
    }

    @Test("the caller's open descriptors are closed before the workload runs (R2)")
    func descriptors() {
        let workspace = Workspace()
        let script = "exec 7</etc/hostname 9<\(workspace.path); exec \(Warden.binary) run -- sh -c 'ls /proc/self/fd | tr \"\\n\" \" \"'"
        let result = Warden.execute("/bin/bash", ["-c", script], directory: workspace.path)
        let fds = result.stdout.split(separator: " ").map(String.init)
        #expect(!fds.contains("7") && !fds.contains("9"), "leaked descriptors: \(fds)")
        #expect(fds.allSatisfy { (Int($0) ?? 99) <= 3 }, "\(fds)")
    }

    @Test("a directory passed as a standard stream becomes /dev/null inside")
    func directoryStandardStream() {
        let workspace = Workspace()
        let script = "exec \(Warden.binary) run -- readlink /proc/self/fd/0 < /etc"
        let result = Warden.execute("/bin/bash", ["-c", script], directory: workspace.path)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "/dev/null", "\(result.stdout) \(result.stderr)")
    }

    @Test("the timeout holds even while the caller's terminal does not read the output")
    func timeoutWithStuckOutput() throws {
        let workspace = Workspace()
        let marker = "\(Int.random(in: 100_000...999_999)).25"
        let driver = workspace.root + "/stuck.py"
        let script = [
            "import os, pty, sys, time",
            "pid, master = pty.fork()",
            "if pid == 0:",
            "    os.execv(sys.argv[1], sys.argv[1:])",
            "time.sleep(9)",
            "os.kill(pid, 9)",
        ].joined(separator: "\n")
        _ = FileManager.default.createFile(atPath: driver, contents: Data(script.utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [driver, Warden.binary, "run", "--timeout", "2", "--", "sh", "-c", "sleep \(marker) & yes"]
        process.currentDirectoryURL = URL(fileURLWithPath: workspace.path)
        try process.run()
        defer { process.waitUntilExit() }
        var running = false
        for _ in 0..<100 where !running {
            running = processes(matching: marker) > 0
            usleep(50_000)
        }
        #expect(running, "the sandbox started")
        usleep(5_000_000)
        #expect(processes(matching: marker) == 0, "the sandbox outlived its timeout while its output was stuck")
    }

    @Test("the workload's cgroup namespace hides the host's hierarchy")
    func cgroupNamespace() {
        let workspace = Workspace()
        let result = Warden.run([], ["cat", "/proc/self/cgroup"], in: workspace)
        for line in result.stdout.split(separator: "\n") {
            #expect(line.hasSuffix(":/"), "\(line)")
        }
    }

    private func processes(matching marker: String) -> Int {
        let result = Warden.execute("/usr/bin/pgrep", ["-f", "^sleep \(marker)"])
        return result.stdout.split(separator: "\n").count
    }

    private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}
