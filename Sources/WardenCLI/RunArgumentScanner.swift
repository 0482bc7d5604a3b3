/// A fast path for `warden run`'s command line.
///
/// Why: swift-argument-parser discovers options through runtime reflection, which costs about
/// 2.5 ms per process here — a third of a bubblewrap launch, on the path of every sandboxed
/// command. This scanner fills the same `RunOptions` (so validation and the request are built
/// by one piece of code) for the common shapes of the command line, and returns nil for
/// anything else — help, an unknown option, a missing value, no `--` — so that
/// ArgumentParser handles it and prints its usual message. A test checks that the scanner
/// knows every option `RunCommand` declares and agrees with ArgumentParser.
enum RunArgumentScanner {
    static let valueOptions: Set<String> = ["--workspace", "--rootfs", "--net", "--seccomp", "--memory", "--pids", "--cpus",
                                            "--timeout", "--manifest", "--tty", "--env", "--env-pass", "--ro", "--rw",
                                            "--allow-degraded", "--allow", "--deny", "--dns-upstream"]
    static let flagOptions: Set<String> = ["--allow-broad-workspace", "--verbose", "-v"]

    static func scan(_ arguments: [String]) -> RunOptions? {
        guard let terminator = arguments.firstIndex(of: "--") else { return nil }
        var command = RunOptions()
        command.command = Array(arguments[(terminator + 1)...])
        var index = 0
        while index < terminator {
            var name = arguments[index]
            var value: String?
            if name.hasPrefix("--"), let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if flagOptions.contains(name) {
                guard value == nil else { return nil }
                if name == "--allow-broad-workspace" { command.allowBroadWorkspace = true } else { command.verbose = true }
                index += 1
                continue
            }
            guard valueOptions.contains(name) else { return nil }
            if value == nil {
                guard index + 1 < terminator else { return nil }
                value = arguments[index + 1]
                index += 1
            }
            guard let value, !value.hasPrefix("-") || value.count == 1 || Double(value) != nil else { return nil }
            switch name {
            case "--workspace": command.workspace = value
            case "--rootfs": command.rootfs = value
            case "--net": command.net = value
            case "--seccomp": command.seccomp = value
            case "--memory": command.memory = value
            case "--pids": command.pids = value
            case "--cpus": command.cpus = value
            case "--timeout": command.timeout = value
            case "--manifest": command.manifest = value
            case "--tty": command.tty = value
            case "--env": command.env.append(value)
            case "--env-pass": command.envPass.append(value)
            case "--ro": command.readOnly.append(value)
            case "--rw": command.readWrite.append(value)
            case "--allow-degraded": command.allowDegraded.append(value)
            case "--allow": command.allow.append(value)
            case "--deny": command.deny.append(value)
            case "--dns-upstream": command.dnsUpstream = value
            default: return nil
            }
            index += 1
        }
        return command
    }
}
