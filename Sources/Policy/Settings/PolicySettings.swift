/// Every scalar setting by its key: how to read it, write it, and whether only admins may.
/// `get`, `set`, history and diffs all go through this one table, so a key means the same
/// thing everywhere.
public enum PolicySettings {
    /// One settable key.
    public struct Descriptor: Sendable {
        public let key: String
        public let help: String
        let read: @Sendable (OrgPolicy) -> String
        let write: @Sendable (inout OrgPolicy, String) throws(PolicyError) -> Void
    }

    public static let descriptors: [Descriptor] = [
        .init(key: "defaults.model", help: "model new agents use", read: { $0.defaults.model }, write: { $0.defaults.model = $1 }),
        .init(key: "defaults.repository", help: "repository new agents use", read: { $0.defaults.repository }, write: { $0.defaults.repository = $1 }),
        .init(key: "defaults.branch", help: "base branch", read: { $0.defaults.branch }, write: { policy, value throws(PolicyError) in
            try PolicyValidator.checkBranch(value)
            policy.defaults.branch = value
        }),
        .init(key: "defaults.agentCommand", help: "agent program new agents run (words separated by spaces; empty: none)",
              read: { $0.defaults.agentCommand.joined(separator: " ") },
              write: { policy, value throws(PolicyError) in
                  let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                  if let first = words.first, !first.hasPrefix("/") {
                      throw PolicyError(.invalidValue, "\"\(first)\": the agent program must be an absolute path inside the sandbox")
                  }
                  policy.defaults.agentCommand = words
              }),
        .init(key: "security.userRestriction", help: "none or allowlist", read: { $0.security.userRestriction.rawValue }, write: { policy, value throws(PolicyError) in
            policy.security.userRestriction = try SettingValue.enumeration(value, SecuritySettings.UserRestriction.self)
        }),
        .init(key: "security.allowedUsers", help: "users who may start agents (comma-separated)", read: { $0.security.allowedUsers.joined(separator: ",") },
              write: { $0.security.allowedUsers = SettingValue.list($1) }),
        bool("security.teamFollowUps", "anyone may follow up on any agent", { $0.security.teamFollowUps }, { $0.security.teamFollowUps = $1 }),
        bool("security.displaySummary", "summaries show diffs and code", { $0.security.displaySummary }, { $0.security.displaySummary = $1 }),
        bool("security.displaySummaryExternal", "the same in external channels", { $0.security.displaySummaryExternal }, { $0.security.displaySummaryExternal = $1 }),
        .init(key: "security.webhook", help: "URL that gets a JSON notice when an agent ends (https, or http to loopback; empty: none)",
              read: { $0.security.webhook }, write: { policy, value throws(PolicyError) in
                  try PolicyValidator.checkWebhook(value)
                  policy.security.webhook = value
              }),
        bool("privacy.default", "the organisation's default privacy mode", { $0.privacy.orgDefault }, { $0.privacy.orgDefault = $1 }),
        bool("privacy.enforced", "users cannot turn privacy mode off", { $0.privacy.enforced }, { $0.privacy.enforced = $1 }),
        duration("retention.agentData", "keep a finished agent's workspace, logs, transcript", { $0.retention.agentData }, { $0.retention.agentData = $1 }),
        duration("retention.audit", "keep audit records", { $0.retention.audit }, { $0.retention.audit = $1 }),
        .init(key: "network.mode", help: "none, allowlist, monitor or open", read: { $0.network.mode.rawValue }, write: { policy, value throws(PolicyError) in
            policy.network.mode = try SettingValue.enumeration(value, NetworkPolicy.Mode.self)
        }),
        .init(key: "network.dnsUpstream", help: "resolver guards forward allowed DNS queries to (ADDRESS[:PORT], or none for the host's)",
              read: { $0.network.dnsUpstream ?? "none" }, write: { policy, value throws(PolicyError) in
                  policy.network.dnsUpstream = try IPEndpoint.parseUpstream(value)
              }),
        bool("network.repositoryMayWiden", "a repository's egressAllowlist may add destinations", { $0.network.repositoryMayWiden }, { $0.network.repositoryMayWiden = $1 }),
        bool("network.tlsInspection", "the guard terminates TLS and judges every HTTPS request (off: server name only)",
             { $0.network.tls.inspect }, { $0.network.tls.inspect = $1 }),
        list("network.tlsExclude", "destinations tunnelled without TLS inspection: pinned or mutual-TLS hosts (comma-separated)",
             { $0.network.tls.exclude }, { $0.network.tls.exclude = $1 }, check: TLSInspectionPolicy.checkExclusions),
        list("network.tlsTrustedCAs", "PEM files of CAs trusted for upstream certificates besides the system store (comma-separated)",
             { $0.network.tls.trustedCAs }, { $0.network.tls.trustedCAs = $1 }, check: TLSInspectionPolicy.checkTrustedCAs),
        bool("detection.enabled", "exfiltration detection on egress (DETECTION.md's rules)", { $0.network.detection.enabled }, { $0.network.detection.enabled = $1 }),
        .init(key: "detection.allowedPorts", help: "ports the uncommon-port rule does not flag (comma-separated)",
              read: { $0.network.detection.allowedPorts.map(String.init).joined(separator: ",") }, write: { policy, value throws(PolicyError) in
                  var ports: [UInt16] = []
                  for item in SettingValue.list(value) {
                      guard let port = UInt16(item), port > 0 else { throw PolicyError(.invalidValue, "\"\(item)\": expected a port 1-65535") }
                      ports.append(port)
                  }
                  policy.network.detection.allowedPorts = ports
              }),
        list("detection.publishTargets", "hosts expected to receive pushes besides an agent's origin (domain patterns, comma-separated)",
             { $0.network.detection.publishTargets }, { $0.network.detection.publishTargets = $1 }, check: DetectionPolicy.checkPublishTargets),
        list("detection.services", "paste/webhook/tunnel services to flag besides the built-in list (host or host/path, comma-separated)",
             { $0.network.detection.services }, { $0.network.detection.services = $1 }, check: DetectionPolicy.checkServices),
        .init(key: "sandbox.memory", help: "default memory limit", read: { $0.sandbox.memory.description }, write: { policy, value throws(PolicyError) in
            policy.sandbox.memory = try ByteSize.parse(value)
        }),
        .init(key: "sandbox.minFreeDisk", help: "no agent starts while Warden's disk has less free space (e.g. 1G)",
              read: { $0.sandbox.minFreeDisk.description }, write: { policy, value throws(PolicyError) in
                  policy.sandbox.minFreeDisk = try ByteSize.parse(value)
              }),
        bool("sandbox.agentSnapshotUpdates", "honour environment.json's agentCanUpdateSnapshot: what the agent leaves in $HOME becomes its snapshot's next layer",
             { $0.sandbox.agentSnapshotUpdates }, { $0.sandbox.agentSnapshotUpdates = $1 }),
        .init(key: "sandbox.pids", help: "default process limit", read: { "\($0.sandbox.pids)" }, write: { policy, value throws(PolicyError) in
            guard let pids = UInt64(value) else { throw PolicyError(.invalidValue, "\"\(value)\": expected a number from 2 to 4194304") }
            policy.sandbox.pids = pids
        }),
        .init(key: "sandbox.cpus", help: "default CPU cap (fraction of a CPU, or none)", read: { $0.sandbox.cpus.map { "\($0)" } ?? "none" },
              write: { policy, value throws(PolicyError) in
                  if value == "none" { policy.sandbox.cpus = nil; return }
                  guard let cpus = Double(value) else { throw PolicyError(.invalidValue, "\"\(value)\": expected a fraction such as 1.5, or none") }
                  policy.sandbox.cpus = cpus
              }),
        .init(key: "sandbox.timeout", help: "default run time limit (duration, or none)", read: { $0.sandbox.timeout?.description ?? "none" },
              write: { policy, value throws(PolicyError) in
                  policy.sandbox.timeout = value == "none" ? nil : try PolicyDuration.parse(value)
              }),
        .init(key: "sandbox.seccompProfile", help: "shipped seccomp profile name", read: { $0.sandbox.seccompProfile }, write: { $0.sandbox.seccompProfile = $1 }),
        .init(key: "sandbox.requiredLayers", help: "layers nobody may give up (comma-separated)",
              read: { $0.sandbox.requiredLayers.map(\.rawValue).joined(separator: ",") },
              write: { policy, value throws(PolicyError) in
                  var layers: [SandboxLayer] = []
                  for name in SettingValue.list(value) { layers.append(try SettingValue.enumeration(name, SandboxLayer.self)) }
                  policy.sandbox.requiredLayers = layers
              }),
        .init(key: "visibility.agents", help: "own or team: whose agents members see", read: { $0.visibility.agents.rawValue },
              write: { policy, value throws(PolicyError) in policy.visibility.agents = try SettingValue.enumeration(value, VisibilityPolicy.Scope.self) }),
        .init(key: "visibility.content", help: "own or team: whose logs and transcripts members read", read: { $0.visibility.content.rawValue },
              write: { policy, value throws(PolicyError) in policy.visibility.content = try SettingValue.enumeration(value, VisibilityPolicy.Scope.self) }),
    ] + DetectionRule.allCases.map { rule in
        Descriptor(key: "detection.action.\(rule.id)", help: "rule \(rule.rawValue): \(rule.title) (record, block or stop)",
                   read: { $0.network.detection.configuredAction(rule).rawValue },
                   write: { policy, value throws(PolicyError) in
                       try policy.network.detection.setAction(rule, try SettingValue.enumeration(value, DetectionAction.self))
                   })
    } + DetectionThreshold.allCases.map { threshold in
        Descriptor(key: "detection.threshold.\(threshold.rawValue)", help: "rule \(threshold.rule.rawValue): \(threshold.help)",
                   read: { SettingValue.text(number: $0.network.detection.value(threshold)) },
                   write: { policy, value throws(PolicyError) in
                       guard let number = Double(value) else { throw PolicyError(.invalidValue, "\"\(value)\": expected a number") }
                       try policy.network.detection.setThreshold(threshold, number)
                   })
    } + WeakeningOption.allCases.map { option in
        Descriptor(key: "sandbox.weakening.\(option.rawValue)", help: "who may use \(option.flag) (role:NAME,user:NAME)",
                   read: { SettingValue.text($0.sandbox.grant(for: option)) },
                   write: { policy, value throws(PolicyError) in policy.sandbox.weakening[option] = try SettingValue.grant(value) })
    }

    /// The descriptor for `key`, including per-user privacy keys (`privacy.users.NAME`).
    public static func descriptor(_ key: String) throws(PolicyError) -> Descriptor {
        if let found = descriptors.first(where: { $0.key == key }) { return found }
        if key.hasPrefix("privacy.users.") {
            let name = String(key.dropFirst("privacy.users.".count))
            return Descriptor(key: key, help: "\(name)'s own privacy mode (on, off or default)",
                              read: { $0.privacy.users[name].map(SettingValue.text) ?? "default" },
                              write: { policy, value throws(PolicyError) in
                                  policy.privacy.users[name] = value == "default" ? nil : try SettingValue.bool(value)
                              })
        }
        throw PolicyError(.unknownKey, "unknown setting \"\(key)\" (see `warden-admin show` for the keys)")
    }

    public static func get(_ policy: OrgPolicy, _ key: String) throws(PolicyError) -> String {
        try descriptor(key).read(policy)
    }

    public static func set(_ policy: inout OrgPolicy, _ key: String, _ value: String) throws(PolicyError) {
        do {
            try descriptor(key).write(&policy, value)
        } catch {
            throw PolicyError(error.code, error.message, path: key)
        }
    }

    /// Every value of the policy under a key, collections included (`users.NAME`,
    /// `network.rules.ID`, `privacy.users.NAME`): what history and diffs compare.
    public static func flatten(_ policy: OrgPolicy) -> [String: String] {
        var result: [String: String] = [:]
        for descriptor in descriptors { result[descriptor.key] = descriptor.read(policy) }
        for (name, value) in policy.privacy.users { result["privacy.users.\(name)"] = SettingValue.text(value) }
        for user in policy.users { result["users.\(user.name)"] = user.flattened }
        for rule in policy.network.rules { result["network.rules.\(rule.id)"] = rule.summary }
        return result
    }

    // Plain closures rather than key paths: this table is built on `warden run`'s launch
    // path, and key path objects are instantiated at run time from mangled names.
    private static func bool(_ key: String, _ help: String, _ get: @escaping @Sendable (OrgPolicy) -> Bool,
                             _ set: @escaping @Sendable (inout OrgPolicy, Bool) -> Void) -> Descriptor {
        Descriptor(key: key, help: help, read: { SettingValue.text(get($0)) },
                   write: { policy, value throws(PolicyError) in set(&policy, try SettingValue.bool(value)) })
    }

    /// A comma-separated list, each entry checked before any is kept.
    private static func list(_ key: String, _ help: String, _ get: @escaping @Sendable (OrgPolicy) -> [String],
                             _ set: @escaping @Sendable (inout OrgPolicy, [String]) -> Void,
                             check: @escaping @Sendable ([String]) throws(PolicyError) -> Void) -> Descriptor {
        Descriptor(key: key, help: help, read: { get($0).joined(separator: ",") }, write: { policy, value throws(PolicyError) in
            let entries = SettingValue.list(value)
            try check(entries)
            set(&policy, entries)
        })
    }

    private static func duration(_ key: String, _ help: String, _ get: @escaping @Sendable (OrgPolicy) -> PolicyDuration,
                                 _ set: @escaping @Sendable (inout OrgPolicy, PolicyDuration) -> Void) -> Descriptor {
        Descriptor(key: key, help: help, read: { get($0).description },
                   write: { policy, value throws(PolicyError) in set(&policy, try PolicyDuration.parse(value)) })
    }
}

/// One changed key between two policies.
public struct SettingChange: Codable, Sendable, Equatable {
    public var key: String
    /// nil: the key did not exist (a user or rule added).
    public var old: String?
    /// nil: the key no longer exists (a user or rule removed).
    public var new: String?

    public init(key: String, old: String?, new: String?) {
        self.key = key
        self.old = old
        self.new = new
    }

    /// Every key whose value differs, sorted by key.
    public static func between(_ old: OrgPolicy, _ new: OrgPolicy) -> [SettingChange] {
        let before = PolicySettings.flatten(old), after = PolicySettings.flatten(new)
        return Set(before.keys).union(after.keys).sorted().compactMap { key in
            before[key] == after[key] ? nil : SettingChange(key: key, old: before[key], new: after[key])
        }
    }
}
