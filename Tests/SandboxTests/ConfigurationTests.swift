import Foundation
import Glibc
@testable import Sandbox
import Testing
import WardenSystem

@Suite("Configuration and plans")
struct ConfigurationTests {
    @Test("broad workspaces are refused (R4)", arguments: [
        ("/", true), ("/home", true), ("/home/dev", true), ("/home/dev/project", false), ("/etc", true), ("/etc/nginx", true),
        ("/usr", true), ("/usr/local/src/app", true), ("/var", true), ("/var/tmp/build", false), ("/tmp", true), ("/tmp/x", false),
        ("/var/lib/warden", true), ("/var/lib", true), ("/proc/self", true), ("/srv/app", false),
    ])
    func broadWorkspaces(_ path: String, _ refused: Bool) {
        let guardian = WorkspaceGuard(home: "/home/dev", wardenHome: "/var/lib/warden")
        #expect((guardian.refusal(for: path) != nil) == refused, "\(path)")
    }

    @Test("--ro/--rw parse SRC and SRC:DST")
    func bindParsing() {
        #expect(BindRequest.parse("/data") == BindRequest(source: "/data", target: "/data"))
        #expect(BindRequest.parse("/data:/mnt/in") == BindRequest(source: "/data", target: "/mnt/in"))
        #expect(BindRequest.parse(":/x") == nil)
        #expect(BindRequest.parse("/x:") == nil)
        #expect(BindRequest.parse("") == nil)
    }

    @Test("bind targets may not cover the sandbox's own structure", arguments: ["/proc/x", "/dev", "/workspace/sub", "/etc/passwd", "/usr/lib/x", "/bin", "/", "/a/../etc"])
    func reservedTargets(_ target: String) {
        #expect(throws: SandboxError.self) {
            _ = try RunConfiguration.validateBinds([BindRequest(source: "/tmp", target: target)], option: "--ro", guardian: nil)
        }
    }

    @Test("bind sources through a symlink are refused; writable ones may not be broad or hold credentials")
    func bindSources() throws {
        let base = "/tmp/warden-binds-\(getpid())"
        let home = base + "/home"
        try Files.makeDirectories(home + "/.ssh")
        try Files.makeDirectories(base + "/ws/real")
        defer { _ = system("rm -rf '\(base)'") }
        symlink(home + "/.ssh", base + "/ws/cache")
        let guardian = WorkspaceGuard(home: home, wardenHome: "/var/lib/warden")
        func refused(_ source: String, _ option: String, guardian: WorkspaceGuard?) -> Bool {
            (try? RunConfiguration.validateBinds([BindRequest(source: source, target: "/x")], option: option, guardian: guardian)) == nil
        }
        #expect(refused(base + "/ws/cache", "--rw", guardian: guardian), "planted symlink")
        #expect(refused(base + "/ws/cache", "--ro", guardian: nil), "planted symlink, read-only too")
        #expect(refused(home + "/.ssh", "--rw", guardian: guardian), "credentials")
        #expect(refused(home, "--rw", guardian: guardian), "the home directory")
        #expect(!refused(home + "/.ssh", "--ro", guardian: nil), "read-only credentials are the caller's choice")
        #expect(!refused(base + "/ws/real", "--rw", guardian: guardian))
        #expect(!refused(home + "/.ssh", "--rw", guardian: nil), "--allow-broad-workspace names the intent")
    }

    @Test("atomic writes never go through a symlinked directory and never leave a partial file")
    func atomicWrites() throws {
        let base = "/tmp/warden-atomic-\(getpid())"
        try Files.makeDirectories(base + "/victim")
        try Files.makeDirectories(base + "/out")
        defer { _ = system("rm -rf '\(base)'") }
        symlink(base + "/victim", base + "/link")
        #expect(throws: SystemError.self) { try Files.writeAtomically(base + "/link/manifest.json", Array("x".utf8)) }
        #expect(Files.listDirectory(base + "/victim").isEmpty)
        symlink(base + "/victim/target", base + "/out/manifest.json")
        #expect(throws: SystemError.self) { try Files.writeAtomically(base + "/out/manifest.json", Array("data".utf8)) }
        #expect(Files.listDirectory(base + "/victim").isEmpty, "the planted symlink was not followed")
        #expect(Files.lstat(base + "/out/manifest.json").map { $0.st_mode & S_IFMT } == S_IFLNK, "nor replaced")
        mkfifo(base + "/out/fifo", 0o600)
        #expect(throws: SystemError.self) { try Files.writeAtomically(base + "/out/fifo", Array("data".utf8)) }
        try Files.writeAtomically(base + "/out/fresh.json", Array("data".utf8))
        try Files.writeAtomically(base + "/out/fresh.json", Array("new".utf8))
        #expect(try Files.readText(base + "/out/fresh.json") == "new")
        #expect(Files.listDirectory(base + "/out") == ["fifo", "fresh.json", "manifest.json"])
    }

    @Test("the environment starts clean; --env wins over --env-pass; bad names are refused")
    func environment() throws {
        var request = SandboxRequest(command: ["true"])
        request.terminal = .never
        request.passEnvironment = ["TOKEN", "ABSENT"]
        request.environment = [("TOKEN", "from-env"), ("EXTRA", "1")]
        let caller = ["TOKEN": "from-caller", "GITHUB_TOKEN": "secret", "LD_PRELOAD": "/x.so"]
        let environment = try RunConfiguration.buildEnvironment(request, lookup: { caller[$0] })
        let table = Dictionary(uniqueKeysWithValues: environment)
        #expect(table["TOKEN"] == "from-env")
        #expect(table["EXTRA"] == "1")
        #expect(table["GITHUB_TOKEN"] == nil && table["LD_PRELOAD"] == nil && table["ABSENT"] == nil)
        #expect(table["HOME"] == "/home/agent" && table["PATH"] == RunConfiguration.defaultPath)
        request.environment = [("1BAD", "x")]
        #expect(throws: SandboxError.self) { try RunConfiguration.buildEnvironment(request, lookup: { _ in nil }) }
        request.environment = [("A=B", "x")]
        #expect(throws: SandboxError.self) { try RunConfiguration.buildEnvironment(request, lookup: { _ in nil }) }
    }

    @Test("sizes parse with binary units and refuse nonsense", arguments: [("4G", UInt64(4) << 30), ("512M", 512 << 20), ("1048576", 1_048_576), ("64MiB", 64 << 20), ("2k", 2048)])
    func sizes(_ text: String, _ value: UInt64) {
        #expect(ResourceLimits.parseBytes(text) == value)
    }

    @Test("nonsense sizes are refused", arguments: ["", "lots", "-5", "0", "99999999999999999999G", "5X"])
    func badSizes(_ text: String) {
        #expect(ResourceLimits.parseBytes(text) == nil)
    }

    @Test("the id pool comes from /etc/subuid's warden entry")
    func idPool() {
        #expect(IdSlot.Pool.parse("alice:100000:65536\nwarden:2000000000:6553600\n") == IdSlot.Pool(base: 2_000_000_000, slots: 100))
        #expect(IdSlot.Pool.parse("warden:0:65536\n") == nil, "never host id 0")
        #expect(IdSlot.Pool.parse("warden:100000:100\n") == nil, "too small for one sandbox")
    }

    @Test("identity maps: never host 0 to 0; the workspace owner maps to the agent only")
    func identityMaps() {
        let identity = IdentityPlan(mode: .range, hostBase: 0x7000_0000, slot: 0, initUID: 0, initGID: 0,
                                    workspaceOwnerUID: 1234, workspaceOwnerGID: 1235, callerUID: 0, callerGID: 0)
        #expect(identity.uidMap == "0 1879048192 65536\n")
        #expect(identity.workspaceUIDMap == "1234 1879049192 1\n")
        #expect(identity.workspaceGIDMap == "1235 1879049192 1\n")
    }

    @Test("cgroup v1 controllers are found in mountinfo")
    func mountinfo() {
        let text = """
            35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory
            36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
            37 25 0:32 / /sys/fs/cgroup/pids rw,relatime shared:16 - cgroup cgroup rw,pids
            38 25 0:33 / /sys/fs/cgroup/unified rw,relatime shared:17 - cgroup2 cgroup2 rw
            """
        let controllers = CgroupHierarchy.parseV1(Array(text.utf8))
        #expect(controllers["memory"] == "/sys/fs/cgroup/memory")
        #expect(controllers["cpu"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(controllers["pids"] == "/sys/fs/cgroup/pids")
        #expect(controllers["freezer"] == nil)
    }

    @Test("Landlock rights follow the ABI; writable trees get REFER, /dev gets ioctl")
    func landlock() {
        #expect(LandlockPlan.handled(abi: 1) == (1 << 13) - 1)
        #expect(LandlockPlan.handled(abi: 2) & LandlockPlan.refer != 0)
        #expect(LandlockPlan.handled(abi: 5) & LandlockPlan.ioctlDev != 0)
        #expect(LandlockPlan.scopes(abi: 5) == 0 && LandlockPlan.scopes(abi: 6) == 3)
        let plan = LandlockPlan.make(abi: 7, workspace: "/workspace", home: "/home/agent", writable: ["/out"], readable: ["/data"])
        let rules = Dictionary(uniqueKeysWithValues: plan.rules.map { ($0.path, $0.access) })
        #expect(rules["/workspace"]! & LandlockPlan.refer != 0)
        #expect(rules["/out"]! & LandlockPlan.writeFile != 0)
        #expect(rules["/data"]! & LandlockPlan.writeFile == 0)
        #expect(rules["/"]! & LandlockPlan.writeFile == 0)
        #expect(rules["/dev"]! & LandlockPlan.ioctlDev != 0)
        let old = LandlockPlan.make(abi: 1, workspace: "/workspace", home: "/home/agent", writable: [], readable: [])
        #expect(old.rules.allSatisfy { $0.access & ~LandlockPlan.handled(abi: 1) == 0 }, "rules never exceed the ABI")
    }

    @Test("generated /etc names no host user and no host resolver")
    func generatedEtc() {
        let files = Dictionary(uniqueKeysWithValues: GeneratedEtc.files(network: .none).map { ($0.name, $0.contents) })
        #expect(files["passwd"]?.split(separator: "\n").map { String($0.split(separator: ":")[0]) } == ["root", "agent", "nobody"])
        #expect(files["resolv.conf"]?.contains("nameserver") == false)
        #expect(files["hostname"] == "warden\n")
    }

    @Test("terminal escape sequences are stripped from text shown to people (R13)")
    func stripControls() {
        #expect(stripTerminalControls("ok\u{1b}]52;c;ZXZpbA==\u{07}done") == "okdone")
        #expect(stripTerminalControls("\u{1b}[2J\u{1b}[31mred\u{1b}[0m\ttab\n") == "red\ttab\n")
        #expect(stripTerminalControls("title\u{1b}]0;owned\u{1b}\\x") == "titlex")
        #expect(stripTerminalControls("bell\u{07}del\u{7f}") == "belldel")
        #expect(stripTerminalControls("c1\u{9d}52;c;SGk=\u{9c}end") == "c152;c;SGk=end")
        #expect(stripTerminalControls("utf8 caf\u{e9} \u{20ac}") == "utf8 caf\u{e9} \u{20ac}")
    }

    @Test("kernel versions parse")
    func kernelVersions() {
        #expect(Host.parseKernelVersion("6.18.44-fc-v595") == (6, 18))
        #expect(Host.parseKernelVersion("5.4.0") == (5, 4))
        #expect(FilterPlan.kernel((6, 18), atLeast: "4.8"))
        #expect(!FilterPlan.kernel((4, 4), atLeast: "4.8"))
    }
}

/// The install profile's passwd and group: package accounts of the base system, never people.
struct PackageAccountTests {
    @Test func onlySystemIDsAreAddedAndGroupMembersAreDropped() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:$6$hash:1001:1001::/home/bob:/bin/sh\nmessagebus:y:100:102::/nonexistent:/usr/sbin/nologin\n"
        let group = "root:x:0:\ntty:x:5:alice\nssl-cert:x:110:alice,bob\nalice:x:1000:\n"
        let files = GeneratedEtc.files(network: .none, packageAccounts: (passwd, group))
        let generatedPasswd = files.first { $0.name == "passwd" }?.contents ?? ""
        let generatedGroup = files.first { $0.name == "group" }?.contents ?? ""
        #expect(generatedPasswd.contains("_apt:x:42:65534::/nonexistent:/usr/sbin/nologin"))
        #expect(generatedPasswd.contains("messagebus:x:100:102"), "passwords are never copied: \(generatedPasswd)")
        #expect(!generatedPasswd.contains("alice") && !generatedPasswd.contains("bob"))
        #expect(generatedGroup.contains("ssl-cert:x:110:\n"), "members are dropped: \(generatedGroup)")
        #expect(!generatedGroup.contains("alice") && generatedGroup.components(separatedBy: "tty:").count == 2)
        let plain = GeneratedEtc.files(network: .none).first { $0.name == "passwd" }?.contents ?? ""
        #expect(!plain.contains("_apt"), "agents' passwd lists no host accounts (R3)")
    }
}
