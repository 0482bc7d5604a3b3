import Policy
import Yams

/// Reads a policy file (YAML) into an `OrgPolicy`, schema-checked: every section and key is
/// required (a truncated file is refused, not completed with defaults), unknown keys and
/// wrong types are refused, and every value goes through the same parsers `set` uses. Whole-
/// policy checks (unknown users, too-broad wildcards) then point at the line of the value.
public enum PolicyFileReader {
    /// The format version this build reads and writes.
    public static let formatVersion = 1
    static let sections = ["version", "users", "defaults", "security", "privacy", "retention", "network", "sandbox", "visibility"]

    public static func read(_ text: String, file: String) throws(PolicyFileError) -> OrgPolicy {
        let tree = YAMLTree(file: file)
        let root = try tree.mapping(try YAMLTree.compose(text, file: file), "", allowed: sections)
        let version = try tree.string(root.node("version"), "version")
        guard version == "\(formatVersion)" else {
            throw tree.fail(root["version"], "version", "unsupported format version \(version); this Warden reads version \(formatVersion)")
        }
        var policy = OrgPolicy()
        policy.users = try users(tree, root.node("users"))
        let defaults = try tree.mapping(root.node("defaults"), "defaults", allowed: ["model", "repository", "branch", "agentCommand"])
        policy.defaults.model = try tree.string(defaults.node("model"), "defaults.model")
        policy.defaults.repository = try tree.string(defaults.node("repository"), "defaults.repository")
        policy.defaults.branch = try tree.string(defaults.node("branch"), "defaults.branch")
        policy.defaults.agentCommand = try tree.strings(defaults.node("agentCommand"), "defaults.agentCommand")

        let security = try tree.mapping(root.node("security"), "security",
                                        allowed: ["userRestriction", "allowedUsers", "teamFollowUps", "displaySummary", "displaySummaryExternal", "webhook"],
                                        required: ["userRestriction", "allowedUsers", "teamFollowUps", "displaySummary", "displaySummaryExternal"])
        policy.security.userRestriction = try tree.enumeration(security.node("userRestriction"), "security.userRestriction", SecuritySettings.UserRestriction.self)
        policy.security.allowedUsers = try tree.strings(security.node("allowedUsers"), "security.allowedUsers")
        policy.security.teamFollowUps = try tree.bool(security.node("teamFollowUps"), "security.teamFollowUps")
        policy.security.displaySummary = try tree.bool(security.node("displaySummary"), "security.displaySummary")
        policy.security.displaySummaryExternal = try tree.bool(security.node("displaySummaryExternal"), "security.displaySummaryExternal")
        if let webhook = security["webhook"] { policy.security.webhook = try tree.string(webhook, "security.webhook") }

        let privacy = try tree.mapping(root.node("privacy"), "privacy", allowed: ["default", "enforced", "users"])
        policy.privacy.orgDefault = try tree.bool(privacy.node("default"), "privacy.default")
        policy.privacy.enforced = try tree.bool(privacy.node("enforced"), "privacy.enforced")
        for (name, value) in try tree.pairs(privacy.node("users"), "privacy.users") {
            policy.privacy.users[name] = try tree.bool(value, "privacy.users.\(name)")
        }

        let retention = try tree.mapping(root.node("retention"), "retention", allowed: ["agentData", "audit"])
        policy.retention.agentData = try tree.parse(retention.node("agentData"), "retention.agentData", PolicyDuration.parse)
        policy.retention.audit = try tree.parse(retention.node("audit"), "retention.audit", PolicyDuration.parse)

        let network = try tree.mapping(root.node("network"), "network", allowed: ["mode", "repositoryMayWiden", "dnsUpstream", "tls", "detection", "rules"],
                                       required: ["mode", "repositoryMayWiden", "dnsUpstream", "rules"])
        policy.network.mode = try tree.enumeration(network.node("mode"), "network.mode", NetworkPolicy.Mode.self)
        policy.network.repositoryMayWiden = try tree.bool(network.node("repositoryMayWiden"), "network.repositoryMayWiden")
        policy.network.rules = try rules(tree, network.node("rules"), path: "network.rules", preset: nil)
        policy.network.dnsUpstream = try tree.parse(network.node("dnsUpstream"), "network.dnsUpstream", IPEndpoint.parseUpstream)
        if let tls = network["tls"] {
            // Optional as a whole (files written before inspection existed); complete when present.
            let fields = try tree.mapping(tls, "network.tls", allowed: ["inspect", "exclude", "trustedCAs"])
            policy.network.tls.inspect = try tree.bool(fields.node("inspect"), "network.tls.inspect")
            policy.network.tls.exclude = try tree.strings(fields.node("exclude"), "network.tls.exclude")
            policy.network.tls.trustedCAs = try tree.strings(fields.node("trustedCAs"), "network.tls.trustedCAs")
        }
        if let detection = network["detection"] {
            policy.network.detection = try self.detection(tree, detection)
        }

        policy.sandbox = try sandbox(tree, root.node("sandbox"))
        let visibility = try tree.mapping(root.node("visibility"), "visibility", allowed: ["agents", "content"])
        policy.visibility.agents = try tree.enumeration(visibility.node("agents"), "visibility.agents", VisibilityPolicy.Scope.self)
        policy.visibility.content = try tree.enumeration(visibility.node("content"), "visibility.content", VisibilityPolicy.Scope.self)

        if let problem = PolicyValidator.problems(policy).first {
            throw PolicyFileError(file: file, line: tree.line(for: problem.path), path: problem.path, message: problem.message)
        }
        return policy
    }

    /// `network.detection`: optional as a whole (files written before detection existed),
    /// complete when present; every value through the setter `warden-admin set` uses.
    static func detection(_ tree: YAMLTree, _ node: Node) throws(PolicyFileError) -> DetectionPolicy {
        let base = "network.detection"
        let fields = try tree.mapping(node, base, allowed: ["enabled", "allowedPorts", "publishTargets", "services", "actions", "thresholds"])
        var policy = DetectionPolicy()
        policy.enabled = try tree.bool(fields.node("enabled"), base + ".enabled")
        policy.allowedPorts = []
        for (index, port) in try tree.sequence(fields.node("allowedPorts"), base + ".allowedPorts").enumerated() {
            policy.allowedPorts.append(try tree.parse(port, "\(base).allowedPorts[\(index)]") { text throws(PolicyError) in
                guard let port = UInt16(text), port > 0 else { throw PolicyError(.invalidValue, "\"\(text)\": expected a port 1-65535") }
                return port
            })
        }
        for (index, item) in try tree.sequence(fields.node("publishTargets"), base + ".publishTargets").enumerated() {
            policy.publishTargets.append(try tree.parse(item, "\(base).publishTargets[\(index)]") { text throws(PolicyError) in
                try DetectionPolicy.checkPublishTargets([text])
                return text
            })
        }
        for (index, item) in try tree.sequence(fields.node("services"), base + ".services").enumerated() {
            policy.services.append(try tree.parse(item, "\(base).services[\(index)]") { text throws(PolicyError) in
                try DetectionPolicy.checkServices([text])
                return text
            })
        }
        for (id, value) in try tree.pairs(fields.node("actions"), base + ".actions") {
            let path = "\(base).actions.\(id)"
            try tree.parse(value, path) { text throws(PolicyError) in
                guard let rule = DetectionRule(id: id) else { throw PolicyError(.unknownKey, "unknown detection rule \"\(id)\"") }
                try policy.setAction(rule, try SettingValue.enumeration(text, DetectionAction.self))
            }
        }
        for (name, value) in try tree.pairs(fields.node("thresholds"), base + ".thresholds") {
            let path = "\(base).thresholds.\(name)"
            try tree.parse(value, path) { text throws(PolicyError) in
                guard let threshold = DetectionThreshold(rawValue: name) else { throw PolicyError(.unknownKey, "unknown detection threshold \"\(name)\"") }
                guard let number = Double(text) else { throw PolicyError(.invalidValue, "\"\(text)\": expected a number") }
                try policy.setThreshold(threshold, number)
            }
        }
        return policy
    }

    static func users(_ tree: YAMLTree, _ node: Node) throws(PolicyFileError) -> [PolicyUser] {
        var result: [PolicyUser] = []
        for (index, item) in try tree.sequence(node, "users").enumerated() {
            let path = "users[\(index)]"
            let fields = try tree.mapping(item, path, allowed: ["name", "uid", "role"])
            let uid = try tree.parse(fields.node("uid"), path + ".uid") { text throws(PolicyError) in
                guard let uid = UInt32(text), uid < 4_294_967_295 else { throw PolicyError(.invalidValue, "expected a numeric OS uid, found \"\(text)\"") }
                return uid
            }
            result.append(PolicyUser(name: try tree.string(fields.node("name"), path + ".name"), uid: uid,
                                     role: try tree.enumeration(fields.node("role"), path + ".role", Role.self)))
        }
        return result
    }

    /// A list of rules: `{id?, action, domain | cidr, ports?, methods?, gitFetch?}`. Presets
    /// write rules without `action` (they only allow) and ids are derived.
    static func rules(_ tree: YAMLTree, _ node: Node, path base: String, preset: String?) throws(PolicyFileError) -> [NetworkRule] {
        var result: [NetworkRule] = []
        for (index, item) in try tree.sequence(node, base).enumerated() {
            let path = "\(base)[\(index)]"
            let allowed = preset == nil ? ["id", "action", "domain", "cidr", "ports", "methods", "gitFetch", "preset"]
                                        : ["domain", "cidr", "ports", "methods", "gitFetch"]
            let fields = try tree.mapping(item, path, allowed: allowed, required: preset == nil ? ["action"] : [])
            let action = preset == nil ? try tree.enumeration(fields.node("action"), path + ".action", NetworkRule.Action.self) : .allow
            let destination: NetworkRule.Destination
            switch (fields["domain"], fields["cidr"]) {
            case let (domain?, nil):
                destination = .domain(try tree.parse(domain, path + ".domain") { text throws(PolicyError) in
                    try DomainPattern.parse(text, forAllow: action == .allow)
                })
            case let (nil, cidr?):
                destination = .network(try tree.parse(cidr, path + ".cidr", CIDR.parse))
            default:
                throw tree.fail(item, path, "expected exactly one of domain or cidr")
            }
            var ports: [PortRange] = []
            if let node = fields["ports"] {
                for (position, port) in try tree.sequence(node, path + ".ports").enumerated() {
                    ports.append(try tree.parse(port, "\(path).ports[\(position)]", PortRange.parse))
                }
            }
            var methods: [String]? = nil
            if let node = fields["methods"] {
                if node.scalar?.string == "read-only" {
                    methods = NetworkRule.readOnlyMethods
                } else {
                    methods = try tree.strings(node, path + ".methods").map { $0.uppercased() }
                }
            }
            var gitFetch = false
            if let node = fields["gitFetch"] { gitFetch = try tree.bool(node, path + ".gitFetch") }
            let id: String
            if let node = fields["id"] {
                id = try tree.string(node, path + ".id")
            } else if let preset {
                id = "\(preset):\(destination)" + (ports.isEmpty ? "" : ":" + ports.map(\.description).joined(separator: ","))
            } else {
                id = NetworkRule.defaultID(action: action, destination: destination, ports: ports)
            }
            var rulePreset = preset
            if rulePreset == nil, let node = fields["preset"] { rulePreset = try tree.string(node, path + ".preset") }
            result.append(NetworkRule(id: id, action: action, destination: destination, ports: ports, methods: methods,
                                      gitFetch: gitFetch, preset: rulePreset))
        }
        return result
    }

    static func sandbox(_ tree: YAMLTree, _ node: Node) throws(PolicyFileError) -> SandboxPolicy {
        let fields = try tree.mapping(node, "sandbox", allowed: ["memory", "pids", "cpus", "timeout", "seccompProfile", "requiredLayers", "minFreeDisk", "agentSnapshotUpdates", "weakening"],
                                      required: ["memory", "pids", "cpus", "timeout", "seccompProfile", "requiredLayers", "weakening"])
        var sandbox = SandboxPolicy()
        sandbox.memory = try tree.parse(fields.node("memory"), "sandbox.memory", ByteSize.parse)
        sandbox.pids = try tree.parse(fields.node("pids"), "sandbox.pids") { text throws(PolicyError) in
            guard let value = UInt64(text) else { throw PolicyError(.invalidValue, "expected a number from 2 to 4194304") }
            return value
        }
        sandbox.cpus = try tree.parse(fields.node("cpus"), "sandbox.cpus") { text throws(PolicyError) -> Double? in
            if text == "none" { return nil }
            guard let value = Double(text) else { throw PolicyError(.invalidValue, "expected a fraction of CPUs such as 1.5, or none") }
            return value
        }
        sandbox.timeout = try tree.parse(fields.node("timeout"), "sandbox.timeout") { text throws(PolicyError) -> PolicyDuration? in
            text == "none" ? nil : try PolicyDuration.parse(text)
        }
        sandbox.seccompProfile = try tree.string(fields.node("seccompProfile"), "sandbox.seccompProfile")
        if let minFree = fields["minFreeDisk"] { sandbox.minFreeDisk = try tree.parse(minFree, "sandbox.minFreeDisk", ByteSize.parse) }
        if let updates = fields["agentSnapshotUpdates"] { sandbox.agentSnapshotUpdates = try tree.bool(updates, "sandbox.agentSnapshotUpdates") }
        sandbox.requiredLayers = []
        for (index, item) in try tree.sequence(fields.node("requiredLayers"), "sandbox.requiredLayers").enumerated() {
            sandbox.requiredLayers.append(try tree.enumeration(item, "sandbox.requiredLayers[\(index)]", SandboxLayer.self))
        }
        let weakening = try tree.mapping(fields.node("weakening"), "sandbox.weakening", allowed: WeakeningOption.allCases.map(\.rawValue))
        for option in WeakeningOption.allCases {
            let path = "sandbox.weakening.\(option.rawValue)"
            let grant = try tree.mapping(weakening.node(option.rawValue), path, allowed: ["roles", "users"])
            var roles: [Role] = []
            for (index, item) in try tree.sequence(grant.node("roles"), path + ".roles").enumerated() {
                roles.append(try tree.enumeration(item, "\(path).roles[\(index)]", Role.self))
            }
            sandbox.weakening[option] = WeakeningGrant(roles: roles, users: try tree.strings(grant.node("users"), path + ".users"))
        }
        return sandbox
    }
}

extension YAMLTree {
    /// The line of a validator's path, or of its nearest recorded parent.
    func line(for path: String?) -> Int? {
        guard var path else { return nil }
        while true {
            if let line = lines[path] { return line }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            path = String(path[..<cut])
        }
    }
}
