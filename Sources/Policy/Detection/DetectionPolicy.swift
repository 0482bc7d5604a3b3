/// Exfiltration detection in the org policy: on by default, each rule's action (DETECTION.md's
/// default unless the admin set one), the thresholds, the ports that are not uncommon, the
/// hosts expected to receive pushes and extra paste/webhook services to flag.
public struct DetectionPolicy: Codable, Sendable, Equatable {
    public var enabled = true
    /// Actions the admin set, by rule id; a rule not listed acts as DETECTION.md says.
    public var actions: [String: DetectionAction] = [:]
    /// Thresholds the admin set, by name; the rest keep DETECTION.md's figures.
    public var thresholds: [String: Double] = [:]
    /// Ports that are not flagged by the uncommon-port rule (a rule naming a port allows it too).
    public var allowedPorts: [UInt16] = [80, 443]
    /// Hosts expected to receive pushes (package registries an agent publishes to), besides
    /// the agent's own origin: exempt from the upload-asymmetry rule. Domain patterns.
    public var publishTargets: [String] = []
    /// Paste, webhook or tunnel services to flag besides the built-in list: `host` or `host/path`.
    public var services: [String] = []

    public init() {}

    enum CodingKeys: String, CodingKey { case enabled, actions, thresholds, allowedPorts, publishTargets, services }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        actions = try container.decodeIfPresent([String: DetectionAction].self, forKey: .actions) ?? [:]
        thresholds = try container.decodeIfPresent([String: Double].self, forKey: .thresholds) ?? [:]
        allowedPorts = try container.decodeIfPresent([UInt16].self, forKey: .allowedPorts) ?? [80, 443]
        publishTargets = try container.decodeIfPresent([String].self, forKey: .publishTargets) ?? []
        services = try container.decodeIfPresent([String].self, forKey: .services) ?? []
    }

    /// The action configured for `rule` (before the network mode is applied).
    public func configuredAction(_ rule: DetectionRule) -> DetectionAction {
        actions[rule.id] ?? rule.defaultAction
    }

    /// What the guard carries out for `rule` in `mode`: `open` records only (R: the policy
    /// issue's definition); `monitor` and `allowlist` carry out the configured action.
    public func action(_ rule: DetectionRule, mode: NetworkPolicy.Mode) -> DetectionAction {
        mode == .open ? .record : configuredAction(rule)
    }

    public func value(_ threshold: DetectionThreshold) -> Double {
        thresholds[threshold.rawValue] ?? threshold.defaultValue
    }

    /// Sets one rule's action; rules 1–3 (the policy's own refusals) take only block or stop.
    public mutating func setAction(_ rule: DetectionRule, _ action: DetectionAction) throws(PolicyError) {
        if rule.policyRefusal && action == .record {
            throw PolicyError(.invalidValue, "rule \(rule.rawValue) (\(rule.id)) restates a refusal the policy makes anyway; its action is block or stop")
        }
        actions[rule.id] = action == rule.defaultAction ? nil : action
    }

    public mutating func setThreshold(_ threshold: DetectionThreshold, _ value: Double) throws(PolicyError) {
        try threshold.check(value)
        thresholds[threshold.rawValue] = value == threshold.defaultValue ? nil : value
    }

    /// Checks a list of publish targets (domain patterns, as allow rules write them).
    public static func checkPublishTargets(_ entries: [String]) throws(PolicyError) {
        for entry in entries {
            do {
                _ = try DomainPattern.parse(entry, forAllow: true)
            } catch {
                throw PolicyError(.invalidValue, "\"\(entry)\": expected a domain pattern such as upload.pypi.org or *.registry.example")
            }
        }
    }

    /// Checks extra services: `host` or `host/path-prefix`.
    public static func checkServices(_ entries: [String]) throws(PolicyError) {
        for entry in entries {
            let host = entry.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            guard DomainName.normalize(host) != nil else {
                throw PolicyError(.invalidValue, "\"\(entry)\": expected a host name, optionally followed by a path prefix (hooks.example.com/api/)")
            }
        }
    }
}
