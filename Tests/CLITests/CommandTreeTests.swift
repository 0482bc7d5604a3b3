import Admin
import ArgumentParser
import Foundation
import Sandbox
import Testing
@testable import WardenCLI

/// Walks both command trees: every command documents itself, and `run` turns its options into
/// exactly the request they describe, refusing bad values with one clear message.
@Suite("Command line")
struct CommandTreeTests {
    static func allCommands(_ root: ParsableCommand.Type) -> [ParsableCommand.Type] {
        [root] + root.configuration.subcommands.flatMap { allCommands($0) }
    }

    @Test("every command has an abstract and help", arguments: [WardenCommand.self as ParsableCommand.Type, AdminCommand.self])
    func documented(_ root: ParsableCommand.Type) {
        for command in Self.allCommands(root) {
            #expect(!command.configuration.abstract.isEmpty, "\(command)")
            #expect(!command.helpMessage().isEmpty)
        }
    }

    @Test("every warden-admin command offers --json and documents the policy commands the issue names")
    func adminJSON() {
        let leaves = Self.allCommands(AdminCommand.self).filter { $0.configuration.subcommands.isEmpty }
        #expect(leaves.count >= 30)
        for command in leaves { #expect(command.helpMessage().contains("--json"), "\(command)") }
        let paths = Set(Self.paths(AdminCommand.self, prefix: []))
        for expected in ["show", "get", "set", "users list", "users add", "users remove", "users role", "allowlist users add",
                         "allowlist users remove", "allowlist users list", "network allow add", "network allow remove", "network allow list",
                         "network deny add", "network deny remove", "network deny list", "network preset apply", "privacy set",
                         "retention set", "followups team", "summary display", "summary external", "defaults set", "validate", "apply",
                         "export", "history", "diff", "rollback", "explain"] {
            #expect(paths.contains(expected), "\(expected)")
        }
    }

    static func paths(_ command: ParsableCommand.Type, prefix: [String]) -> [String] {
        command.configuration.subcommands.flatMap { sub -> [String] in
            let path = prefix + [sub.configuration.commandName ?? ""]
            return [path.joined(separator: " ")] + paths(sub, prefix: path)
        }
    }

    @Test("run's help documents the exit statuses and the degradable layers")
    func runHelp() {
        let help = RunCommand.helpMessage()
        for code in ["120", "121", "124", "125", "126", "127"] { #expect(help.contains(code), "\(code)") }
        for layer in Layer.allCases { #expect(help.contains(layer.rawValue)) }
    }

    @Test("options become the request")
    func runOptions() throws {
        let command = try RunCommand.parse([
            "--workspace", "/srv/app", "--env", "A=1", "--env", "B=x=y", "--env-pass", "TOKEN", "--ro", "/data:/in", "--rw", "/out",
            "--memory", "512M", "--pids", "64", "--cpus", "1.5", "--timeout", "30", "--allow-degraded", "landlock,cgroups",
            "--manifest", "/tmp/m.json", "--tty", "never", "--seccomp", "/p.json", "-v", "--", "make", "-j4",
        ])
        let request = try command.request()
        #expect(request.command == ["make", "-j4"])
        #expect(request.workspace == "/srv/app")
        #expect(request.environment.map { "\($0.name)=\($0.value)" } == ["A=1", "B=x=y"])
        #expect(request.passEnvironment == ["TOKEN"])
        #expect(request.readOnlyBinds == [BindRequest(source: "/data", target: "/in")])
        #expect(request.readWriteBinds == [BindRequest(source: "/out", target: "/out")])
        #expect(request.limits.memoryBytes == 512 << 20 && request.limits.pids == 64)
        #expect(request.limits.cpus == 1.5 && request.limits.timeoutSeconds == 30)
        #expect(request.allowDegraded == [.landlock, .cgroups])
        #expect(request.terminal == .never && request.verbose && request.seccompProfile == "/p.json")
    }

    @Test("defaults are safe: 4 GiB, 1024 pids, no network")
    func defaults() throws {
        let request = try RunCommand.parse(["--", "true"]).request()
        #expect(request.limits.memoryBytes == 4 << 30)
        #expect(request.limits.pids == 1024)
        #expect(request.network == .none)
        #expect(request.allowDegraded.isEmpty)
    }

    @Test("bad values are refused with one line naming the option", arguments: [
        (["--memory", "1K"], "--memory"), (["--pids", "1"], "--pids"), (["--cpus", "0"], "--cpus"), (["--timeout", "-1"], "--timeout"),
        (["--allow-degraded", "seccomp,magic"], "--allow-degraded magic"), (["--net", "bogus"], "--net bogus"), (["--env", "=x"], "--env"),
        (["--ro", ":/x"], "--ro"), (["--tty", "yes"], "--tty"),
    ])
    func badValues(_ options: [String], _ mention: String) {
        do {
            _ = try RunCommand.parse(options + ["--", "true"]).request()
            Issue.record("accepted \(options)")
        } catch {
            let message = RunCommand.message(for: error)
            #expect(message.contains(mention), "\(message)")
            #expect(!message.contains("\n"))
        }
    }

    @Test("warden-admin seccomp check reports the baseline's effect on Docker's profile")
    func adminReport() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let path = url.path + "/../shared/compat/docker-seccomp-default.json"
        let command = try SeccompCheckCommand.parse([path, "--json"])
        #expect(command.json)
        let report = try SeccompCheckCommand.report(file: path)
        #expect(report.refusedByBaseline.contains("ptrace"))
        #expect(report.narrowedByBaseline.contains("socket"))
        #expect(report.instructions > 0 && report.instructions <= 4096)
    }
}

/// The fast path for `warden run` must accept exactly what ArgumentParser accepts, build the
/// same request, and know every option.
@Suite("run's fast argument path")
struct RunArgumentScannerTests {
    @Test("knows every option RunCommand declares")
    func knowsEveryOption() {
        let help = RunCommand.helpMessage()
        var declared = Set<String>()
        var rest = Substring(help)
        while let range = rest.firstRange(of: "--") {
            let name = "--" + rest[range.upperBound...].prefix { $0.isLetter || $0 == "-" }
            if name.count > 2 && !name.hasSuffix("-") { declared.insert(name) }
            rest = rest[range.upperBound...]
        }
        declared.remove("--help")
        declared.remove("--version")
        #expect(!declared.isEmpty)
        for name in declared {
            #expect(RunArgumentScanner.valueOptions.contains(name) || RunArgumentScanner.flagOptions.contains(name), "\(name)")
        }
    }

    @Test("agrees with ArgumentParser", arguments: [
        ["--", "true"],
        ["-v", "--memory", "512M", "--", "sh", "-c", "echo --memory"],
        ["--env=A=1", "--env", "B=2", "--ro", "/a:/b", "--rw=/c", "--allow-degraded", "landlock", "--", "make", "--", "x"],
        ["--workspace", "/srv/x", "--pids", "10", "--cpus", "0.5", "--timeout", "2.5", "--tty", "never", "--net", "none", "--", "id"],
        ["--manifest", "/tmp/m.json", "--seccomp", "/p.json", "--allow-broad-workspace", "--rootfs", "/r", "--env-pass", "T", "--", "ls", "-la"],
    ])
    func agrees(_ arguments: [String]) throws {
        let fast = try #require(RunArgumentScanner.scan(arguments) as RunOptions?)
        let slow = try RunCommand.parse(arguments)
        let a = try fast.request(), b = try slow.request()
        #expect(a.command == b.command && a.workspace == b.workspace && a.rootfs == b.rootfs)
        #expect(a.environment.map { "\($0.name)=\($0.value)" } == b.environment.map { "\($0.name)=\($0.value)" })
        #expect(a.passEnvironment == b.passEnvironment && a.readOnlyBinds == b.readOnlyBinds && a.readWriteBinds == b.readWriteBinds)
        #expect(a.limits == b.limits && a.allowDegraded == b.allowDegraded && a.manifestPath == b.manifestPath)
        #expect(a.terminal == b.terminal && a.verbose == b.verbose && a.seccompProfile == b.seccompProfile)
        #expect(a.allowBroadWorkspace == b.allowBroadWorkspace && a.network == b.network)
    }

    @Test("leaves everything unusual to ArgumentParser", arguments: [
        ["true"], ["--help", "--", "x"], ["--bogus", "--", "x"], ["--memory", "--", "x"], ["-v=1", "--", "x"], ["--verbose=yes", "--", "x"],
    ])
    func fallsBack(_ arguments: [String]) {
        #expect(RunArgumentScanner.scan(arguments) == nil)
    }
}
