import Foundation
import Testing

/// Escape attempts through the file system: host files, writes outside the workspace, planted
/// symlinks, git hooks, set-id binaries, /proc.
@Suite("Escape: file system", .enabled(if: Warden.isRoot))
struct FilesystemEscapeTests {
    @Test("host secrets and home directories are absent", arguments: ["/etc/shadow", "/root", "/home/agent/../../root", "/var/lib", "/run/user", "/etc/sudoers", "/sys"])
    func hostPathsAbsent(_ path: String) {
        let workspace = Workspace()
        let result = Warden.run([], ["sh", "-c", "cat \(path) >/dev/null 2>&1 || ls \(path) >/dev/null 2>&1 && echo VISIBLE || echo ABSENT"], in: workspace)
        #expect(result.lastLine == "ABSENT", "\(path): \(result.stdout) \(result.stderr)")
    }

    @Test("/run holds only Warden's own files (the TLS trust bundle), never the host's sockets")
    func runIsWardens() {
        let workspace = Workspace()
        let result = Warden.run([], ["sh", "-c", "find /run -mindepth 1 | sort; echo END"], in: workspace)
        let entries = result.stdout.split(separator: "\n").map(String.init).filter { $0 != "END" }
        #expect(result.lastLine == "END", "\(result.stderr)")
        #expect(entries.allSatisfy { $0 == "/run/warden" || $0.hasPrefix("/run/warden/") }, "\(entries)")
        #expect(access("/run", F_OK) != 0 || !FileManager.default.fileExists(atPath: "/run/warden/tls"), "nothing was made on the host")
    }

    @Test("writes outside the workspace fail and leave the host unchanged", arguments: ["/usr/warden-escape", "/etc/warden-escape", "/warden-escape", "/proc/warden-escape", "/dev/warden-escape"])
    func writesOutsideWorkspace(_ path: String) {
        let workspace = Workspace()
        let result = Warden.run([], ["sh", "-c", "echo pwned > \(path) && echo WROTE || echo REFUSED"], in: workspace)
        #expect(result.lastLine == "REFUSED")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("files written in the workspace belong to the workspace owner on the host (R5)")
    func workspaceOwnership() throws {
        let workspace = Workspace()
        #expect(chown(workspace.path, 4321, 4322) == 0)
        let result = Warden.run([], ["sh", "-c", "id -u; touch /workspace/made && stat -c '%u %g' /workspace/made"], in: workspace)
        #expect(result.stdout.split(separator: "\n").first == "1000", "the workload runs as the agent user: \(result.stdout)")
        #expect(result.lastLine == "1000 1000", "inside, the file belongs to the agent: \(result.stdout)")
        let attributes = try FileManager.default.attributesOfItem(atPath: workspace.file("made"))
        #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 4321)
        #expect((attributes[.groupOwnerAccountID] as? NSNumber)?.intValue == 4322)
    }

    @Test("the sandbox cannot chown its way out: chown to root fails")
    func chownRefused() {
        let workspace = Workspace()
        workspace.write("mine", "x")
        let result = Warden.run([], ["sh", "-c", "chown 0:0 /workspace/mine && echo CHOWNED || echo REFUSED"], in: workspace)
        #expect(result.lastLine == "REFUSED")
    }

    @Test("a symlink planted in the workspace does not reach host paths")
    func plantedSymlink() throws {
        let workspace = Workspace()
        try FileManager.default.createSymbolicLink(atPath: workspace.file("host-etc"), withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: workspace.file("host-shadow"), withDestinationPath: "/etc/shadow")
        try FileManager.default.createSymbolicLink(atPath: workspace.file("host-root"), withDestinationPath: "/root")
        let result = Warden.run([], ["sh", "-c", "cat /workspace/host-shadow 2>/dev/null && echo SHADOW; ls /workspace/host-root/ 2>/dev/null && echo ROOT; cut -d: -f1 /workspace/host-etc/passwd"], in: workspace)
        #expect(!result.stdout.contains("SHADOW"))
        #expect(!result.stdout.contains("ROOT"))
        #expect(result.stdout.split(separator: "\n").map(String.init) == ["root", "agent", "nobody"], "\(result.stdout)")
    }

    @Test("/etc/passwd lists no host user")
    func noHostUsers() throws {
        let workspace = Workspace()
        let result = Warden.run([], ["cut", "-d:", "-f1", "/etc/passwd"], in: workspace)
        let inside = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(inside == ["root", "agent", "nobody"])
        let host = try String(contentsOfFile: "/etc/passwd", encoding: .utf8).split(separator: "\n").map { String($0.split(separator: ":")[0]) }
        #expect(Set(host).subtracting(["root", "nobody"]).isDisjoint(with: inside))
    }

    @Test("generated /etc: hostname, hosts, resolv.conf name nothing of the host")
    func generatedEtc() throws {
        let workspace = Workspace()
        let result = Warden.run([], ["sh", "-c", "hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf"], in: workspace)
        #expect(result.stdout.hasPrefix("warden\nwarden\n"))
        let hostResolv = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        for line in hostResolv.split(separator: "\n") where line.hasPrefix("nameserver") || line.hasPrefix("search") {
            #expect(!result.stdout.contains(line), "host resolver leaked: \(line)")
        }
    }

    @Test("a bind source through a symlink planted in the workspace is refused")
    func plantedBindSource() throws {
        let workspace = Workspace()
        let victim = workspace.root + "/victim-ssh"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: workspace.file("cache"), withDestinationPath: victim)
        let result = Warden.run(["--rw", "./cache:/cache"], ["sh", "-c", "echo ATTACKER >> /cache/authorized_keys"], in: workspace)
        #expect(result.status == 125)
        #expect(result.stderr.contains("symlink"))
        #expect(!FileManager.default.fileExists(atPath: victim + "/authorized_keys"))
    }

    @Test("the manifest is not written through a symlink planted where it goes")
    func plantedManifestPath() throws {
        let workspace = Workspace()
        let victim = workspace.root + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: workspace.file("out"), withDestinationPath: victim)
        let result = Warden.execute(Warden.binary, ["run", "--manifest", "out/manifest.json", "--", "true"], directory: workspace.path)
        #expect(result.stderr.contains("cannot write the manifest"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim).isEmpty)
    }

    @Test("a setuid-root binary does not raise privileges inside")
    func setuidBinary() throws {
        let workspace = Workspace()
        let directory = workspace.root + "/suid"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let probe = directory + "/euid"
        try FileManager.default.copyItem(atPath: Fixtures.path("euid"), toPath: probe)
        #expect(chown(probe, 0, 0) == 0 && chmod(probe, 0o4755) == 0)
        let host = Warden.execute("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", probe])
        #expect(host.stdout.contains("euid=0"), "the probe is a working setuid binary on the host: \(host.stdout)")
        let result = Warden.run(["--ro", "\(directory):/opt/suid"], ["/opt/suid/euid"], in: workspace)
        #expect(result.lastLine == "euid=1000 uid=1000", "\(result.stdout) \(result.stderr)")
    }

    @Test("set-id bits cannot be created on workspace files (they would be the developer's on the host)")
    func noSetIDFiles() throws {
        let workspace = Workspace()
        for name in ["chmod_setuid", "create_setuid", "mknod_setuid"] {
            let result = Warden.run([], ["python3", "/workspace/attacks.py", name], in: workspace)
            #expect(result.lastLine == "BLOCKED EPERM", "\(name): \(result.stdout)")
        }
        for name in ["chmod-suid", "created-suid", "mknod-suid"] {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: workspace.file(name)) {
                let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
                #expect(mode & 0o6000 == 0, "\(name) is set-id on the host")
            }
        }
    }

    @Test("/proc/sys is read-only and the host's values are unchanged")
    func procSys() throws {
        let before = try String(contentsOfFile: "/proc/sys/kernel/core_pattern", encoding: .utf8)
        let (line, _) = attack("proc_sys_write")
        #expect(line == "BLOCKED EROFS")
        #expect(try String(contentsOfFile: "/proc/sys/kernel/core_pattern", encoding: .utf8) == before)
    }

    @Test("sysrq-trigger and kcore cannot be used", arguments: ["sysrq_write", "kcore_read"])
    func procMasks(_ name: String) {
        #expect(attack(name).line.hasPrefix("BLOCKED"))
    }

    @Test("--ro binds are read-only, --rw binds writable and owned by the developer")
    func binds() throws {
        let workspace = Workspace()
        let shared = workspace.root + "/shared"
        let output = workspace.root + "/output"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: shared + "/data.txt", contents: Data("shared data\n".utf8))
        let script = "cat /data/data.txt; echo x > /data/new 2>/dev/null && echo RO-WRITTEN; echo result > /out/result.txt && echo RW-WRITTEN"
        let result = Warden.run(["--ro", "\(shared):/data", "--rw", "\(output):/out"], ["sh", "-c", script], in: workspace)
        #expect(result.stdout.contains("shared data"))
        #expect(!result.stdout.contains("RO-WRITTEN"))
        #expect(result.stdout.contains("RW-WRITTEN"))
        let attributes = try FileManager.default.attributesOfItem(atPath: output + "/result.txt")
        #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 0, "the rw bind is idmapped to its owner")
    }

    @Test("--rootfs uses a prepared root instead of the host's system directories")
    func rootfs() throws {
        let workspace = Workspace()
        let root = workspace.root + "/rootfs"
        try FileManager.default.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/usr/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: root + "/bin", withDestinationPath: "usr/bin")
        _ = FileManager.default.createFile(atPath: root + "/etc/os-release", contents: Data("ID=warden-test-rootfs\n".utf8))
        let result = Warden.run(["--rootfs", root], ["/bin/busybox", "sh", "-c", "cat /etc/os-release; ls /usr/bin; test -e /usr/bin/python3 || echo NO-HOST-PYTHON"], in: workspace)
        #expect(result.stdout.contains("ID=warden-test-rootfs"), "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("NO-HOST-PYTHON"))
    }
}
