import Agent
import Glibc
import ArgumentParser
import NetGuard
import Policy
import Sandbox
import Store
import WardenSystem

/// `warden run [options] -- CMD [ARGS...]`: runs one command sealed.
public struct RunCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command sealed in a sandbox (namespaces, seccomp, Landlock, no capabilities, cgroups).",
        discussion: """
            The workspace (default: the current directory) is mounted read-write at /workspace, which is \
            the working directory. System directories are read-only; /tmp and $HOME are private tmpfs. \
            Nothing of the caller's environment passes unless named with --env or --env-pass.

            NETWORK: every sandbox has its own network namespace. With --net none it has only loopback. \
            Otherwise (allowlist, monitor, open; the default is the organisation's mode) every TCP connection \
            and DNS query goes through Warden's network guard, which judges it by the policy (plus --allow and \
            --deny for this run), relays or refuses it, and records it (`warden audit`). Other UDP, ICMP and raw \
            packets go nowhere and are recorded. RULE: DEST[:PORTS][@METHODS], e.g. pypi.org:443@GET,HEAD, \
            *.example.com, 10.0.0.0/8:80, [fd00::/8]:443.

            LAYERS that may be given up with --allow-degraded: \(Layer.allCases.map(\.rawValue).joined(separator: ", ")).

            \(WardenExitCode.summary)
            """)

    @Option(name: .long, help: ArgumentHelp("Directory mounted read-write at /workspace.", valueName: "dir"))
    public var workspace: String?

    @Flag(name: .long, help: "Accept /, your home directory, their ancestors or Warden's home as the workspace.")
    public var allowBroadWorkspace = false

    @Option(name: .long, help: ArgumentHelp("Set a variable in the sandbox (repeatable).", valueName: "name=value"))
    public var env: [String] = []

    @Option(name: .customLong("env-pass"), help: ArgumentHelp("Copy a variable from your environment (repeatable).", valueName: "name"))
    public var envPass: [String] = []

    @Option(name: .customLong("ro"), help: ArgumentHelp("Bind a host path read-only (repeatable).", valueName: "src[:dst]"))
    public var readOnly: [String] = []

    @Option(name: .customLong("rw"), help: ArgumentHelp("Bind a host path read-write (repeatable).", valueName: "src[:dst]"))
    public var readWrite: [String] = []

    @Option(name: .long, help: ArgumentHelp("Use a prepared root's /usr, /bin, /lib*, /sbin and /etc instead of the host's.", valueName: "dir"))
    public var rootfs: String?

    @Option(name: .long, help: ArgumentHelp("Network mode: \(NetworkMode.allCases.map(\.rawValue).joined(separator: ", ")) (default: the organisation's).", valueName: "mode"))
    public var net: String?

    @Option(name: .long, help: ArgumentHelp("Also allow this destination for this run (repeatable; needs a grant).", valueName: "rule"))
    public var allow: [String] = []

    @Option(name: .long, help: ArgumentHelp("Also refuse this destination for this run (repeatable).", valueName: "rule"))
    public var deny: [String] = []

    @Option(name: .customLong("dns-upstream"), help: ArgumentHelp("Resolver allowed DNS queries are forwarded to (default: the host's).", valueName: "address[:port]"))
    public var dnsUpstream: String?

    @Option(name: .long, help: ArgumentHelp("seccomp profile in the OCI/Docker format (the baseline still applies).", valueName: "file"))
    public var seccomp: String?

    @Option(name: .long, help: ArgumentHelp("Memory limit (bytes, or with K/M/G). Default 4G.", valueName: "bytes"))
    public var memory: String?

    @Option(name: .long, help: ArgumentHelp("Maximum number of processes and threads. Default 1024.", valueName: "n"))
    public var pids: String?

    @Option(name: .long, help: ArgumentHelp("CPU time as a fraction of one CPU (e.g. 1.5).", valueName: "fraction"))
    public var cpus: String?

    @Option(name: .long, help: ArgumentHelp("Kill the whole sandbox after this many seconds.", valueName: "seconds"))
    public var timeout: String?

    @Option(name: .customLong("allow-degraded"), help: ArgumentHelp("Run without this layer if it cannot engage (repeatable).", valueName: "layer"))
    public var allowDegraded: [String] = []

    @Option(name: .long, help: ArgumentHelp("Write the run's JSON manifest to this file.", valueName: "file"))
    public var manifest: String?

    @Option(name: .long, help: ArgumentHelp("Terminal: auto (a relayed pseudo-terminal when you have one) or never.", valueName: "mode"))
    public var tty: String = TerminalMode.auto.rawValue

    @Flag(name: [.short, .long], help: "Print the engaged layers and syscall denials when the run ends.")
    public var verbose = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments.", valueName: "command"))
    public var command: [String] = []

    public init() {}

    public func validate() throws {
        _ = try request()
        _ = try options.networkRequest()
    }

    public func run() throws {
        throw ExitCode(RunExecution.execute(try request(), network: try options.networkRequest()))
    }

    /// The typed request, or a one-line validation error.
    public func request() throws -> SandboxRequest {
        try options.request()
    }

    /// The parsed values, as a plain value both parsers fill.
    var options: RunOptions {
        RunOptions(workspace: workspace, allowBroadWorkspace: allowBroadWorkspace, env: env, envPass: envPass,
                   readOnly: readOnly, readWrite: readWrite, rootfs: rootfs, net: net, allow: allow, deny: deny,
                   dnsUpstream: dnsUpstream, seccomp: seccomp, memory: memory,
                   pids: pids, cpus: cpus, timeout: timeout, allowDegraded: allowDegraded, manifest: manifest, tty: tty,
                   verbose: verbose, command: command)
    }
}

/// `warden run`'s options as plain values, and the one place they are validated into a
/// `SandboxRequest` (whichever parser read them).
struct RunOptions {
    var workspace: String?
    var allowBroadWorkspace = false
    var env: [String] = []
    var envPass: [String] = []
    var readOnly: [String] = []
    var readWrite: [String] = []
    var rootfs: String?
    var net: String?
    var allow: [String] = []
    var deny: [String] = []
    var dnsUpstream: String?
    var seccomp: String?
    var memory: String?
    var pids: String?
    var cpus: String?
    var timeout: String?
    var allowDegraded: [String] = []
    var manifest: String?
    var tty = TerminalMode.auto.rawValue
    var verbose = false
    var command: [String] = []

    func request() throws -> SandboxRequest {
        guard !command.isEmpty else { throw ValidationError("no command given; usage: warden run [options] -- CMD [ARGS...]") }
        var request = SandboxRequest(command: command)
        request.workspace = workspace
        request.allowBroadWorkspace = allowBroadWorkspace
        for entry in env {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--env \(entry): expected NAME=VALUE")
            }
            request.environment.append((String(entry[..<equals]), String(entry[entry.index(after: equals)...])))
        }
        request.passEnvironment = envPass
        request.readOnlyBinds = try readOnly.map { text in
            guard let bind = BindRequest.parse(text) else { throw ValidationError("--ro \(text): expected SRC or SRC:DST") }
            return bind
        }
        request.readWriteBinds = try readWrite.map { text in
            guard let bind = BindRequest.parse(text) else { throw ValidationError("--rw \(text): expected SRC or SRC:DST") }
            return bind
        }
        request.rootfs = rootfs
        if let net {
            guard let network = NetworkMode(rawValue: net) else {
                throw ValidationError("--net \(net): unknown mode (available: \(NetworkMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            request.network = network
        }
        request.seccompProfile = seccomp
        if let memory {
            guard let bytes = ResourceLimits.parseBytes(memory), bytes >= 16 << 20 else {
                throw ValidationError("--memory \(memory): expected a size of at least 16M (e.g. 512M, 4G)")
            }
            request.limits.memoryBytes = bytes
            request.explicitLimits.insert(.memory)
        }
        if let pids {
            guard let value = UInt64(pids), value >= 2, value <= 4_194_304 else { throw ValidationError("--pids \(pids): expected a number from 2 to 4194304") }
            request.limits.pids = value
            request.explicitLimits.insert(.pids)
        }
        if let cpus {
            guard let value = Double(cpus), value >= 0.01, value <= 4096, value.isFinite else {
                throw ValidationError("--cpus \(cpus): expected a fraction of CPUs such as 0.5 or 2")
            }
            request.limits.cpus = value
            request.explicitLimits.insert(.cpus)
        }
        if let timeout {
            guard let value = Double(timeout), value > 0, value <= 31_536_000, value.isFinite else {
                throw ValidationError("--timeout \(timeout): expected a number of seconds greater than 0")
            }
            request.limits.timeoutSeconds = value
            request.explicitLimits.insert(.timeout)
        }
        for text in allowDegraded {
            for name in text.split(separator: ",") {
                guard let layer = Layer(rawValue: String(name)) else {
                    throw ValidationError("--allow-degraded \(name): unknown layer (available: \(Layer.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                request.allowDegraded.insert(layer)
            }
        }
        request.manifestPath = manifest
        guard let terminal = TerminalMode(rawValue: tty) else { throw ValidationError("--tty \(tty): expected auto or never") }
        request.terminal = terminal
        request.verbose = verbose
        return request
    }

    /// The network options, validated: the mode the caller chose (nil: the policy's), this
    /// run's extra rules, and the upstream resolver.
    func networkRequest() throws -> NetworkRequest {
        var network = NetworkRequest()
        if let net {
            guard let mode = NetworkMode(rawValue: net) else {
                throw ValidationError("--net \(net): unknown mode (available: \(NetworkMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            network.mode = mode
        }
        do throws(PolicyError) {
            network.allow = try allow.map { text throws(PolicyError) in try RuleSyntax.parse(text, action: .allow) }
            network.deny = try deny.map { text throws(PolicyError) in try RuleSyntax.parse(text, action: .deny) }
        } catch {
            let option = allow.contains { error.message.hasPrefix("\"\($0)\"") } ? "--allow" : "--deny"
            throw ValidationError("\(option) \(error.message)")
        }
        if let dnsUpstream {
            guard let address = SocketAddress.parse(dnsUpstream, defaultPort: 53) else {
                throw ValidationError("--dns-upstream \(dnsUpstream): expected an IP address, ADDRESS:PORT or [V6]:PORT")
            }
            network.dnsUpstream = address
        }
        if network.mode == NetworkMode.none && (!allow.isEmpty || !deny.isEmpty || dnsUpstream != nil) {
            throw ValidationError("--allow, --deny and --dns-upstream need a guarded network mode, not --net none")
        }
        return network
    }
}

/// `warden run`'s network options after validation.
struct NetworkRequest {
    var mode: NetworkMode?
    var allow: [NetworkRule] = []
    var deny: [NetworkRule] = []
    var dnsUpstream: SocketAddress?
}

/// Runs a validated request and reports; returns Warden's exit status.
public enum RunExecution {
    static func execute(_ request: SandboxRequest, network: NetworkRequest) -> Int32 {
        let started = monotonicNanoseconds()
        Host.hardenSelf()
        ensureStandardDescriptors()
        let paths = WardenPaths.forCurrentUser()
        var request = request
        let policyHome = PolicyHome.resolve(requested: Host.environment("WARDEN_HOME"), uid: getuid()).path
        var guardPlan: GuardPlan?
        switch RunPolicyGate.apply(to: &request, network: network, home: policyHome) {
        case .refused(let status): return status
        case .proceed(let plan): guardPlan = plan
        }
        let profileName = request.shippedProfileName
        var configuration: RunConfiguration
        do {
            configuration = try RunConfiguration.validate(request, paths: paths,
                                                          defaultProfile: { () throws(SandboxError) in try PolicyLocator.seccompProfile(named: profileName) })
        } catch {
            printError("warden: \(error.message)")
            return WardenExitCode.code(for: error)
        }
        if request.network.guarded && configuration.rootless {
            // The guard needs root to set up the namespace. Asked for explicitly: refused. Taken
            // from the policy: the run gets no network at all, which is stricter than any mode.
            guard network.mode == nil else {
                printError("warden: --net \(request.network.rawValue) needs root: the network guard sets up the sandbox's network namespace (use --net none)")
                return WardenExitCode.layerUnavailable
            }
            request.network = .none
            configuration.request.network = .none
            guardPlan = nil
        }
        let launcher = SandboxLauncher(configuration: configuration, started: started)
        if let guardPlan, request.network.guarded { launcher.network = GuardAttachment(plan: guardPlan) }
        let outcome = launcher.run()
        if let message = outcome.message { printError(message.hasPrefix("warden:") ? message : "warden: \(message)") }
        if let stopped = outcome.manifest.network?.stoppedBy { printError("warden: \(stopped)") }
        if request.verbose { printError(RunSummary.text(outcome.manifest)) }
        if let path = request.manifestPath {
            do { try Files.writeAtomically(path, outcome.manifest.encoded()) } catch {
                printError("warden: cannot write the manifest \(path): \(error.reason)")
            }
        }
        return outcome.exitStatus
    }
}
