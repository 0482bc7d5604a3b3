import Foundation
import Testing

/// `warden run` as a command: exit statuses, signals, standard streams, the manifest, bad input,
/// fail-closed refusals and compatibility with users' Docker seccomp profiles.
@Suite("warden run behaviour", .enabled(if: Warden.isRoot))
struct RunBehaviourTests {
    @Test("exits with the command's status", arguments: [0, 1, 7, 255])
    func exitStatus(_ code: Int) {
        let result = Warden.run([], ["sh", "-c", "exit \(code)"], in: Workspace())
        #expect(result.status == Int32(code))
    }

    @Test("128+N when signal N killed the command", arguments: [("KILL", 137), ("TERM", 143), ("SEGV", 139)])
    func killedBySignal(_ signal: String, _ expected: Int32) {
        let result = Warden.run([], ["sh", "-c", "kill -\(signal) $$"], in: Workspace())
        #expect(result.status == expected)
        #expect((result.manifest?["exit"] as? [String: Any])?["signal"] as? String == "SIG\(signal)")
    }

    @Test("SIGTERM and SIGINT sent to warden reach the command", arguments: [(SIGTERM, Int32(143)), (SIGINT, Int32(130))])
    func forwardsSignals(_ signal: Int32, _ expected: Int32) throws {
        let workspace = Workspace()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Warden.binary)
        process.arguments = ["run", "--", "sh", "-c", "echo started > /workspace/started; exec sleep 30"]
        process.currentDirectoryURL = URL(fileURLWithPath: workspace.path)
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while workspace.read("started") == nil && Date() < deadline { usleep(20_000) }
        usleep(100_000)
        let sent = Date()
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationStatus == expected)
        #expect(Date().timeIntervalSince(sent) < 5)
    }

    @Test("sandboxes run side by side: distinct id ranges, every denial counted, no crash")
    func concurrentRuns() throws {
        let count = 12
        let workspaces = (0..<count).map { _ in Workspace() }
        // All alive at once: each holds its sandbox open until a shared start file disappears.
        let gate = workspaces[0].root + "/gate"
        _ = FileManager.default.createFile(atPath: gate, contents: Data())
        let script = "python3 /workspace/attacks.py tiocsti_high_bits; while [ -e /gate/gate ]; do sleep 0.05; done"
        var processes: [(Process, String)] = []
        for workspace in workspaces {
            let manifest = workspace.scratch + "/manifest.json"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Warden.binary)
            process.arguments = ["run", "--manifest", manifest, "--timeout", "60", "--ro", workspaces[0].root + ":/gate", "--", "sh", "-c", script]
            process.currentDirectoryURL = URL(fileURLWithPath: workspace.path)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            processes.append((process, manifest))
        }
        usleep(3_000_000)
        try FileManager.default.removeItem(atPath: gate)
        var bases = Set<Int>()
        for (process, manifest) in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            let data = try #require(FileManager.default.contents(atPath: manifest))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect((json["seccompDenials"] as? [String: Int])?["ioctl"] == 1)
            let identity = (json["layers"] as? [String: Any])?["identity"] as? [String: Any]
            if let base = identity?["hostIDBase"] as? Int { bases.insert(base) }
        }
        #expect(bases.count == count, "each simultaneous sandbox holds its own id range")
    }

    @Test("standard streams pass through")
    func streams() {
        let result = Warden.run([], ["sh", "-c", "cat; echo to-stderr >&2"], in: Workspace(), stdin: "from stdin\n")
        #expect(result.stdout == "from stdin\n")
        #expect(result.stderr.contains("to-stderr"))
    }

    @Test("a command that does not exist exits 127; one that cannot execute exits 126")
    func commandErrors() {
        let workspace = Workspace()
        let missing = Warden.run([], ["no-such-command-here"], in: workspace)
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("command not found"))
        workspace.write("not-executable", "#!/bin/sh\necho hi\n")
        let denied = Warden.run([], ["/workspace/not-executable"], in: workspace)
        #expect(denied.status == 126)
    }

    @Test("the manifest records every layer that engaged")
    func manifest() throws {
        let workspace = Workspace()
        let result = Warden.run(["--memory", "256M", "--pids", "100", "--cpus", "0.5"], ["python3", "/workspace/attacks.py", "ptrace"], in: workspace)
        let manifest = try #require(result.manifest)
        let layers = try #require(manifest["layers"] as? [String: Any])
        #expect((layers["namespaces"] as? [String])?.sorted() == ["cgroup", "ipc", "mount", "net", "pid", "user", "uts"])
        let seccomp = try #require(layers["seccomp"] as? [String: Any])
        #expect(seccomp["profile"] as? String == "default")
        #expect((seccomp["sha256"] as? String)?.count == 64)
        #expect((seccomp["rules"] as? Int ?? 0) > 100)
        #expect(seccomp["filters"] as? Int == 1, "the shipped profile has the baseline intersected in")
        let landlock = try #require(layers["landlock"] as? [String: Any])
        #expect((landlock["abi"] as? Int ?? 0) >= 1)
        let cgroups = try #require(layers["cgroups"] as? [String: Any])
        #expect(cgroups["memoryBytes"] as? Int == 256 << 20)
        #expect(cgroups["pids"] as? Int == 100)
        let capabilities = try #require(layers["capabilities"] as? [String: Any])
        for set in ["effective", "permitted", "inheritable", "bounding", "ambient"] {
            #expect((capabilities[set] as? [String]) == [], "\(set)")
        }
        #expect(capabilities["noNewPrivs"] as? Bool == true)
        let identity = try #require(layers["identity"] as? [String: Any])
        #expect(identity["mode"] as? String == "range")
        #expect(identity["idmappedWorkspace"] as? Bool == true)
        let mounts = try #require(layers["mounts"] as? [[String: Any]])
        #expect(mounts.contains { $0["target"] as? String == "/workspace" && $0["mode"] as? String == "rw,idmapped" })
        #expect(mounts.contains { $0["target"] as? String == "/usr" && $0["mode"] as? String == "ro" })
        #expect(result.denials["ptrace"] == 1)
        #expect((manifest["exit"] as? [String: Any])?["status"] as? Int == 0)
        #expect((manifest["wallSeconds"] as? Double ?? 0) > 0)
        #expect((manifest["peakMemoryBytes"] as? Int ?? 0) > 0)
    }

    @Test("bad input: one line on stderr, exit 125, nothing runs", arguments: [
        ["--no-such-option"],
        ["--workspace", "/nonexistent/warden"],
        ["--memory", "lots"],
        ["--pids", "-3"],
        ["--allow-degraded", "everything"],
        ["--net", "wide-open"],
        ["--env", "NOEQUALS"],
        ["--ro", "/nonexistent/warden"],
        ["--rw", "/tmp:/proc/evil"],
        ["--timeout", "0"],
        ["--tty", "sometimes"],
    ])
    func badInput(_ options: [String]) {
        let workspace = Workspace()
        let result = Warden.run(options, ["touch", "/workspace/ran"], in: workspace)
        #expect(result.status == 125, "\(options): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        #expect(result.stderr.hasPrefix("warden: "))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("no command is bad input")
    func noCommand() {
        let workspace = Workspace()
        let result = Warden.execute(Warden.binary, ["run"], directory: workspace.path)
        #expect(result.status == 125)
    }

    @Test("a malformed seccomp profile stops the run before it starts", arguments: ["{", "{\"syscalls\": []}", "{\"defaultAction\": \"SCMP_ACT_NOPE\"}",
                                                                                  "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 9, \"value\": 0, \"op\": \"SCMP_CMP_EQ\"}]}]}", ""])
    func malformedProfile(_ text: String) {
        let workspace = Workspace()
        let profile = workspace.root + "/profile.json"
        _ = FileManager.default.createFile(atPath: profile, contents: Data(text.utf8))
        let result = Warden.run(["--seccomp", profile], ["touch", "/workspace/ran"], in: workspace)
        #expect(result.status == 125, "\(result.stderr)")
        #expect(result.stderr.contains("seccomp profile"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))
    }

    @Test("broad workspaces are refused without the explicit flag (R4)", arguments: ["/", "/root", "/home", "/etc", "/tmp", "/usr/lib"])
    func broadWorkspace(_ path: String) {
        let result = Warden.execute(Warden.binary, ["run", "--workspace", path, "--", "true"])
        #expect(result.status == 125, "\(path): \(result.stderr)")
        #expect(result.stderr.contains("--allow-broad-workspace") || result.stderr.contains("overlaps"))
    }

    @Test("without root the missing layers are refused unless explicitly given up")
    func failsClosedWithoutRoot() throws {
        let workspace = Workspace()
        chmod(workspace.root, 0o755)
        #expect(chown(workspace.path, 65534, 65534) == 0)
        let base = ["--reuid=65534", "--regid=65534", "--clear-groups", Warden.binary, "run"]
        // A root-owned Warden home whose policy grants this uid the layers it must give up; its
        // uses are recorded in its own journal there.
        let home = workspace.scratch + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        chmod(workspace.scratch, 0o755)
        chmod(home, 0o755)
        let admin = ["WARDEN_HOME": home, "PATH": "/usr/bin:/bin"]
        #expect(Warden.execute(Warden.adminBinary, ["users", "add", "nobody", "--uid", "65534"], environment: admin).status == 0)
        #expect(Warden.execute(Warden.adminBinary, ["set", "sandbox.weakening.allow-degraded", "role:admin,user:nobody"], environment: admin).status == 0)
        let environment = ["PATH": "/usr/bin:/bin", "WARDEN_HOME": home]
        let refused = Warden.execute("/usr/bin/setpriv", base + ["--", "touch", "/workspace/ran"], directory: workspace.path,
                                     environment: environment)
        #expect(refused.status == 121, "\(refused.stderr)")
        #expect(refused.stderr.contains("--allow-degraded"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("ran")))

        let manifest = workspace.path + "/rootless.json"
        let degraded = Warden.execute("/usr/bin/setpriv", base + ["--allow-degraded", "identity,cgroups", "--manifest", manifest, "--", "sh", "-c", "id -u; touch /workspace/ran"],
                                      directory: workspace.path, environment: environment)
        #expect(degraded.status == 0, "\(degraded.stderr)")
        #expect(FileManager.default.fileExists(atPath: home + "/journal/65534"), "the two uses were recorded")
        #expect(degraded.stdout.hasPrefix("1000"))
        let data = try #require(FileManager.default.contents(atPath: manifest))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((json["degraded"] as? [String])?.sorted() == ["cgroups", "identity"])
        let attributes = try FileManager.default.attributesOfItem(atPath: workspace.file("ran"))
        #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 65534)
    }

    @Test("Docker's own seccomp profile works unchanged for common programs")
    func dockerProfile() throws {
        let profile = Warden.repository + "/../shared/compat/docker-seccomp-default.json"
        try #require(FileManager.default.fileExists(atPath: profile), "../shared/compat is beside the repository")
        let workspace = Workspace()
        let script = """
            sh -c 'echo sh-ok'
            python3 -c 'import threading, subprocess; t = threading.Thread(target=print, args=("python-ok",)); t.start(); t.join()'
            git init -q /workspace/repo && git -C /workspace/repo -c user.email=a@b -c user.name=agent commit -q --allow-empty -m x && echo git-ok
            curl --version >/dev/null && echo curl-ok
            """
        let result = Warden.run(["--seccomp", profile], ["sh", "-c", script], in: workspace)
        for marker in ["sh-ok", "python-ok", "git-ok", "curl-ok"] {
            #expect(result.stdout.contains(marker), "\(marker) missing: \(result.stdout) \(result.stderr)")
        }
        let seccomp = (result.manifest?["layers"] as? [String: Any])?["seccomp"] as? [String: Any]
        #expect(seccomp?["profile"] as? String == "docker-seccomp-default.json")
        #expect(seccomp?["filters"] as? Int == 2, "a user's profile is stacked on the separate baseline filter")
    }

    @Test("the baseline still applies under Docker's profile (R8)", arguments: ["ptrace", "io_uring_setup", "vsock_socket_high_bits", "tiocsti_high_bits", "chmod_setuid"])
    func baselineUnderDockerProfile(_ name: String) {
        let profile = Warden.repository + "/../shared/compat/docker-seccomp-default.json"
        let (line, _) = attack(name, options: ["--seccomp", profile])
        #expect(line == "BLOCKED EPERM", "\(name) under Docker's profile: \(line)")
    }

    @Test("a profile's own errno is returned and the denial counted")
    func profileErrno() throws {
        let workspace = Workspace()
        let profile = workspace.root + "/deny-mkdir.json"
        let text = #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#
        _ = FileManager.default.createFile(atPath: profile, contents: Data(text.utf8))
        let result = Warden.run(["--seccomp", profile], ["python3", "-c", "import os\ntry:\n os.mkdir('/workspace/d')\nexcept OSError as e:\n print(e.errno)"], in: workspace)
        #expect(result.lastLine == "13", "\(result.stdout) \(result.stderr)")
        #expect((result.denials["mkdir"] ?? 0) + (result.denials["mkdirat"] ?? 0) >= 1)
        let ptrace = Warden.run(["--seccomp", profile], ["python3", "/workspace/attacks.py", "ptrace"], in: workspace)
        #expect(ptrace.lastLine == "BLOCKED EPERM", "an allow-all profile keeps the baseline")
    }
}
