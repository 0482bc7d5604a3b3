import Policy

/// Writes a policy as the YAML `PolicyFileReader` reads: every key present, sections in a
/// fixed order ending with scalars (so a copy cut short always loses a required key), values
/// quoted wherever YAML could read them as something else.
public enum PolicyFileWriter {
    public static func write(_ policy: OrgPolicy) -> String {
        var out = "# Warden organisation policy. Edit, then `warden-admin validate FILE` and `warden-admin apply FILE`.\n"
        out += "version: \(PolicyFileReader.formatVersion)\n"
        out += "users:" + (policy.users.isEmpty ? " []\n" : "\n")
        for user in policy.users {
            out += "  - name: \(scalar(user.name))\n    uid: \(user.uid)\n    role: \(user.role.rawValue)\n"
        }
        out += "defaults:\n  model: \(scalar(policy.defaults.model))\n  repository: \(scalar(policy.defaults.repository))\n"
        out += "  branch: \(scalar(policy.defaults.branch))\n  agentCommand: \(list(policy.defaults.agentCommand))\n"
        let security = policy.security
        out += "security:\n  userRestriction: \(security.userRestriction.rawValue)\n  allowedUsers: \(list(security.allowedUsers))\n"
        out += "  teamFollowUps: \(security.teamFollowUps)\n  displaySummary: \(security.displaySummary)\n"
        out += "  displaySummaryExternal: \(security.displaySummaryExternal)\n  webhook: \(scalar(security.webhook))\n"
        out += "privacy:\n  default: \(policy.privacy.orgDefault)\n  enforced: \(policy.privacy.enforced)\n"
        out += "  users:" + (policy.privacy.users.isEmpty ? " {}\n" : "\n")
        for name in policy.privacy.users.keys.sorted() { out += "    \(scalar(name)): \(policy.privacy.users[name] ?? false)\n" }
        out += "retention:\n  agentData: \(policy.retention.agentData)\n  audit: \(policy.retention.audit)\n"
        out += "network:\n  mode: \(policy.network.mode.rawValue)\n  repositoryMayWiden: \(policy.network.repositoryMayWiden)\n"
        out += "  dnsUpstream: \(scalar(policy.network.dnsUpstream ?? "none"))\n"
        let tls = policy.network.tls
        out += "  tls:\n    inspect: \(tls.inspect)\n    exclude: \(list(tls.exclude))\n    trustedCAs: \(list(tls.trustedCAs))\n"
        let detection = policy.network.detection
        out += "  detection:\n    enabled: \(detection.enabled)\n    allowedPorts: [\(detection.allowedPorts.map(String.init).joined(separator: ", "))]\n"
        out += "    publishTargets: \(list(detection.publishTargets))\n    services: \(list(detection.services))\n"
        out += "    actions: {" + detection.actions.keys.sorted().map { "\(scalar($0)): \(detection.actions[$0]?.rawValue ?? "")" }.joined(separator: ", ") + "}\n"
        out += "    thresholds: {" + detection.thresholds.keys.sorted().map { "\(scalar($0)): \(SettingValue.text(number: detection.thresholds[$0] ?? 0))" }.joined(separator: ", ") + "}\n"
        out += "  rules:" + (policy.network.rules.isEmpty ? " []\n" : "\n")
        for rule in policy.network.rules {
            out += "    - id: \(scalar(rule.id))\n      action: \(rule.action.rawValue)\n"
            switch rule.destination {
            case .domain(let pattern): out += "      domain: \(scalar(pattern.description))\n"
            case .network(let cidr): out += "      cidr: \(scalar(cidr.description))\n"
            }
            if !rule.ports.isEmpty { out += "      ports: \(list(rule.ports.map(\.description)))\n" }
            if let methods = rule.methods { out += "      methods: \(list(methods))\n" }
            if rule.gitFetch { out += "      gitFetch: true\n" }
            if let preset = rule.preset { out += "      preset: \(scalar(preset))\n" }
        }
        let sandbox = policy.sandbox
        out += "sandbox:\n  memory: \(sandbox.memory)\n  pids: \(sandbox.pids)\n  cpus: \(sandbox.cpus.map { "\($0)" } ?? "none")\n"
        out += "  timeout: \(sandbox.timeout?.description ?? "none")\n  seccompProfile: \(scalar(sandbox.seccompProfile))\n"
        out += "  requiredLayers: \(list(sandbox.requiredLayers.map(\.rawValue)))\n  minFreeDisk: \(sandbox.minFreeDisk)\n"
        out += "  agentSnapshotUpdates: \(sandbox.agentSnapshotUpdates)\n  weakening:\n"
        for option in WeakeningOption.allCases {
            let grant = sandbox.grant(for: option)
            out += "    \(option.rawValue): {roles: \(list(grant.roles.map(\.rawValue))), users: \(list(grant.users))}\n"
        }
        out += "visibility:\n  agents: \(policy.visibility.agents.rawValue)\n  content: \(policy.visibility.content.rawValue)\n"
        return out
    }

    static func list(_ items: [String]) -> String { "[" + items.map(scalar).joined(separator: ", ") + "]" }

    /// A plain scalar when it can only be read back as this string, else double-quoted.
    static func scalar(_ text: String) -> String {
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"]
        let plain = !text.isEmpty && !reserved.contains(text.lowercased())
            && text.unicodeScalars.allSatisfy { ($0.value >= 0x30 && $0.value <= 0x39) || ($0.value | 0x20 >= 0x61 && $0.value | 0x20 <= 0x7A) || "._/-".unicodeScalars.contains($0) }
            && !(text.first.map { "-.".contains($0) } ?? false) && Double(text) == nil
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { quoted += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16) } else { quoted.unicodeScalars.append(scalar) }
            }
        }
        return quoted + "\""
    }
}
