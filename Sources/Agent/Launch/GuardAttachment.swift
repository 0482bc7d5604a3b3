import Glibc
import NetGuard
import Policy
import Sandbox
import Store
import WardenSystem

/// What the guard of one sandbox judges by: the effective rules and mode, where allowed DNS
/// queries go, whose records these are, and where they are written.
public struct GuardPlan {
    public var policy: EgressPolicy
    public var mode: NetworkPolicy.Mode
    public var upstream: SocketAddress
    public var owner: UInt32
    public var auditPath: String
    public var home: String
    /// The sandbox's TLS authority and upstream CAs; nil when the policy turns inspection off.
    public var tls: TLSInspection?
    /// Exfiltration detection (nil when the policy turns it off) and the canaries it watches.
    public var detection: GuardDetection?
    public var canaries: CanaryCredentials?
    /// The background agent the sandbox belongs to ("" for `warden run`): its records carry it,
    /// so `warden audit --agent ID` finds them.
    public var agentID = ""
    /// The agent is in privacy mode: its audit records keep no paths (R25).
    public var privateContent = false

    public init(policy: EgressPolicy, mode: NetworkPolicy.Mode, upstream: SocketAddress, owner: UInt32, auditPath: String, home: String,
                tls: TLSInspection? = nil) {
        self.policy = policy
        self.mode = mode
        self.upstream = upstream
        self.owner = owner
        self.auditPath = auditPath
        self.home = home
        self.tls = tls
    }

    /// The plan for `mode` under the organisation's network policy: deny rules first, then
    /// the org's rules, then extra allow rules; the upstream is the one given, else the
    /// policy's, else the host's first resolver. Nil for an unguarded mode.
    /// `repositoryAllowlist`: the repository's environment.json `egressAllowlist`, which
    /// narrows the policy (and widens it only where the policy lets repositories widen).
    /// With TLS inspection on, a fresh authority is made for this sandbox (`label` names it).
    public static func make(org: NetworkPolicy, mode: NetworkMode, deny: [NetworkRule] = [], allow: [NetworkRule] = [],
                            upstream: SocketAddress? = nil, owner: UInt32, home: String,
                            repositoryAllowlist: [DomainPattern]? = nil, label: String = "run",
                            secrets: [GivenSecret] = [], origin: String? = nil, plantCanaries: Bool = true,
                            agentID: String = "") throws(GuardError) -> GuardPlan? {
        guard mode.guarded, let policyMode = NetworkPolicy.Mode(rawValue: mode.rawValue) else { return nil }
        var effective = org
        effective.mode = policyMode
        effective.rules = deny + org.rules + allow
        let orgUpstream = org.dnsUpstream.flatMap { SocketAddress.parse($0, defaultPort: 53) }
        guard let resolver = upstream ?? orgUpstream ?? HostResolver.first() else {
            throw GuardError(.invalid, "no DNS upstream: give --dns-upstream ADDRESS, or set network.dnsUpstream (the host's /etc/resolv.conf names none)")
        }
        let tls = org.tls.inspect ? TLSInspection(authority: try TLSAuthority.generate(label: label), trustedCAs: org.tls.trustedCAs) : nil
        var plan = GuardPlan(policy: EgressPolicy(network: effective, repositoryAllowlist: repositoryAllowlist), mode: policyMode, upstream: resolver, owner: owner,
                             auditPath: SQLiteAuditStore.path(home: home), home: home, tls: tls)
        plan.agentID = agentID
        if org.detection.enabled {
            let canaries = plantCanaries ? CanaryCredentials.generate() : nil
            plan.canaries = canaries
            // Fingerprints in flags are keyed with the audit key. Without it no guard starts
            // (NetworkGuard.start fails closed), so a plan made without it is never used; it is
            // not refused here, where a run that needs no guard (rootless, refused layers)
            // would otherwise fail for the wrong reason.
            let key = try? AuditKey.load(home: home)
            plan.detection = try GuardDetection(policy: org.detection, planted: (canaries?.planted(key: key) ?? []) + Self.planted(secrets, key: key),
                                                pushTargets: Self.pushTargets(org.detection.publishTargets, origin: origin))
        }
        return plan
    }

    /// Secrets as detection watches them: a value may reach only its own hosts (R18).
    static func planted(_ secrets: [GivenSecret], key: AuditKey? = nil) -> [PlantedValue] {
        secrets.map { secret in
            PlantedValue(origin: .secret, label: "secret \(secret.name)", value: secret.value, fingerprint: GuardDetection.fingerprint(secret.value, key: key),
                         hosts: secret.hosts.compactMap { try? DomainPattern.parse($0, forAllow: false) })
        }
    }

    /// The hosts expected to receive pushes: the policy's publish targets and the host of the
    /// agent's own origin (a git URL; a local path has none).
    static func pushTargets(_ targets: [String], origin: String?) -> [DomainPattern] {
        var patterns = targets.compactMap { try? DomainPattern.parse($0, forAllow: false) }
        if let host = origin.flatMap(OriginHost.of), let pattern = try? DomainPattern.parse(host, forAllow: false) { patterns.append(pattern) }
        return patterns
    }

    /// What the sandbox's programs are given to use the guard: the explicit proxy's variables
    /// and, with inspection, the trust bundle (the system's CAs, the policy's, the sandbox's
    /// authority) at its own path and over the system bundle, with the variables clients read.
    /// Offered first so that the caller's own variables can still change them.
    public func prepare(_ request: inout SandboxRequest, systemRoot: String = "/") throws(GuardError) {
        var environment = NetworkGuard.proxyEnvironment
        if let tls {
            let system = (try? Files.readText(joinPath(systemRoot, String(TLSInspection.systemBundlePath.dropFirst())), limit: 16 << 20)) ?? ""
            var trusted: [String] = []
            for path in tls.trustedCAs {
                do {
                    trusted.append(try Files.readText(path, limit: 1 << 20))
                } catch {
                    throw GuardError(.invalid, "TLS inspection: the trusted CA \(path) (network.tls.trustedCAs) cannot be read: \(error.description)")
                }
            }
            request.generatedFiles += [
                GeneratedFile(path: TLSInspection.certificatePath, contents: Array(tls.authority.certificatePEM.utf8), mode: 0o644),
                GeneratedFile(path: TLSInspection.bundlePath, contents: Array(tls.bundle(systemBundle: system, trusted: trusted).utf8), mode: 0o644,
                              covers: TLSInspection.systemBundlePath),
            ]
            environment += TLSInspection.environment
        }
        if let canaries { request.generatedFiles += canaries.files }
        request.environment.insert(contentsOf: environment, at: 0)
    }
}

/// Connects the sandbox launcher to the network guard: starts it once the sandbox's network
/// namespace exists, stops it when the sandbox has ended.
public final class GuardAttachment: NetworkAttachment {
    public let plan: GuardPlan
    private var running: NetworkGuard?

    public init(plan: GuardPlan) {
        self.plan = plan
    }

    public func attach(pid: Int32, runID: String, hostIDs: ClosedRange<UInt32>?) throws(SandboxError) {
        do {
            try Files.makeDirectories(plan.home, mode: 0o755)
        } catch {
            throw SandboxError(.setupFailed, "network guard: cannot create \(plan.home): \(error.description)")
        }
        var configuration = GuardConfiguration(policy: plan.policy, upstreamResolver: plan.upstream, owner: plan.owner,
                                               auditPath: plan.auditPath)
        configuration.tls = plan.tls
        configuration.agentID = plan.agentID
        configuration.privateContent = plan.privateContent
        if var detection = plan.detection {
            // The sandbox's init: killing it ends every process of the sandbox's pid namespace.
            detection.stopSandbox = { _ in _ = kill(pid, SIGKILL) }
            configuration.detection = detection
            configuration.canaryRecord = plan.canaries?.auditText
        }
        do {
            running = try NetworkGuard.start(pid: pid, runID: runID, configuration: configuration, pingGroups: hostIDs)
        } catch {
            throw SandboxError(.setupFailed, error.message)
        }
    }

    public func detach(refusedSockets: [RunManifest.RefusedSocket]) -> RunManifest.NetworkSummary? {
        guard let running else { return nil }
        self.running = nil
        let report = running.stop(refusedSockets: refusedSockets.map {
            RefusedSocketKind(family: $0.family, type: $0.type, proto: $0.proto, description: $0.description, count: $0.count)
        })
        let stats = report.statistics
        var failure = report.auditFailure
        if report.recordsLost > 0 { failure = (failure ?? "") + " (\(report.recordsLost) records lost)" }
        return RunManifest.NetworkSummary(
            mode: plan.mode.rawValue, connections: stats.connections, allowed: stats.allowed, refused: stats.refused,
            bytesUp: stats.bytesUp, bytesDown: stats.bytesDown, dnsQueries: stats.dnsQueries, dnsRefused: stats.dnsRefused,
            packetsDropped: stats.packetsDropped, socketsRefused: stats.socketsRefused, auditRecords: report.recordsWritten, auditFailure: failure,
            namespaceInode: report.namespaceInode, flags: stats.flags, stoppedBy: report.stoppedBy)
    }
}

/// The host's own resolver: the first `nameserver` of /etc/resolv.conf. Used only when
/// neither --dns-upstream nor the policy names one.
public enum HostResolver {
    public static func first() -> SocketAddress? {
        guard let text = try? Files.readText("/etc/resolv.conf") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, fields[0] == "nameserver", let address = SocketAddress.parse(String(fields[1]), defaultPort: 53) { return address }
        }
        return nil
    }
}
