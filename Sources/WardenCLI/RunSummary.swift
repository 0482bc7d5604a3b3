import Sandbox

/// The human summary printed by `warden run --verbose`.
enum RunSummary {
    static func text(_ manifest: RunManifest) -> String {
        var lines: [String] = ["warden: run \(manifest.runID) \(manifest.exit.reason) (status \(manifest.exit.status)) in \(format(manifest.wallSeconds))s"]
        let layers = manifest.layers
        lines.append("  namespaces: \(layers.namespaces.joined(separator: ", "))")
        if let identity = layers.identity {
            lines.append("  identity: \(identity.mode), workload uid \(identity.workloadUID) (host \(identity.workloadHostUID.map(String.init) ?? "?")), idmapped workspace: \(identity.idmappedWorkspace)")
        }
        if let seccomp = layers.seccomp {
            lines.append("  seccomp: \(seccomp.profile) (sha256 \(seccomp.sha256.prefix(12))), \(seccomp.rules) rules + baseline v\(seccomp.baselineVersion)")
        }
        if let landlock = layers.landlock { lines.append("  landlock: ABI \(landlock.abi), scopes \(landlock.scopes.joined(separator: ", "))") }
        if let cgroups = layers.cgroups { lines.append("  cgroups: v\(cgroups.version), memory \(cgroups.memoryBytes), pids \(cgroups.pids)") }
        if let caps = layers.capabilities {
            lines.append("  capabilities: effective [\(caps.effective.joined(separator: ","))], bounding [\(caps.bounding.joined(separator: ","))], no_new_privs \(caps.noNewPrivs)")
        }
        if !manifest.degraded.isEmpty { lines.append("  degraded (explicitly allowed): \(manifest.degraded.joined(separator: ", "))") }
        if !manifest.seccompDenials.isEmpty {
            let denials = manifest.seccompDenials.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }
            lines.append("  syscalls denied: \(denials.joined(separator: ", "))")
        }
        if let network = manifest.network {
            lines.append("  network: \(network.mode), \(network.connections) connections (\(network.refused) refused), \(network.dnsQueries) DNS queries, \(network.flags ?? 0) detection flags")
        }
        if let peak = manifest.peakMemoryBytes { lines.append("  peak memory: \(peak) bytes") }
        return lines.joined(separator: "\n")
    }

    static func format(_ seconds: Double) -> String {
        let millis = Int((seconds * 1000).rounded())
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - String(millis % 1000).count))\(millis % 1000)"
    }
}
