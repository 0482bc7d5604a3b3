import Glibc
import NetGuard
import Policy
import Sandbox
import Store
import WardenSystem

/// What `warden run` decided the guard judges by.
struct GuardPlan {
    var policy: EgressPolicy
    var mode: NetworkPolicy.Mode
    var upstream: SocketAddress
    var owner: UInt32
    var auditPath: String
    var home: String
}

/// Connects the sandbox launcher to the network guard: starts it once the sandbox's network
/// namespace exists, stops it when the sandbox has ended.
final class GuardAttachment: NetworkAttachment {
    let plan: GuardPlan
    private var running: NetworkGuard?

    init(plan: GuardPlan) {
        self.plan = plan
    }

    func attach(pid: Int32, runID: String, hostIDs: ClosedRange<UInt32>?) throws(SandboxError) {
        do {
            try Files.makeDirectories(plan.home, mode: 0o755)
        } catch {
            throw SandboxError(.setupFailed, "network guard: cannot create \(plan.home): \(error.description)")
        }
        let configuration = GuardConfiguration(policy: plan.policy, upstreamResolver: plan.upstream, owner: plan.owner,
                                               auditPath: plan.auditPath)
        do {
            running = try NetworkGuard.start(pid: pid, runID: runID, configuration: configuration, pingGroups: hostIDs)
        } catch {
            throw SandboxError(.setupFailed, error.message)
        }
    }

    func detach(refusedSockets: [RunManifest.RefusedSocket]) -> RunManifest.NetworkSummary? {
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
            namespaceInode: report.namespaceInode)
    }
}

/// The host's own resolver: the first `nameserver` of /etc/resolv.conf. Used only when
/// neither --dns-upstream nor the policy names one.
enum HostResolver {
    static func first() -> SocketAddress? {
        guard let text = try? Files.readText("/etc/resolv.conf") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, fields[0] == "nameserver", let address = SocketAddress.parse(String(fields[1]), defaultPort: 53) { return address }
        }
        return nil
    }
}
