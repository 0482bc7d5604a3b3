import ArgumentParser
import Policy

/// `warden-admin network allow|deny add|remove|list`, `network preset apply|list`.
struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Egress rules: allow and deny rules on domains, networks, ports and methods; presets.",
        discussion: "Deny always wins. A new deny rule also applies to agents already running; new allow rules reach only new agents.",
        subcommands: [NetworkAllowCommand.self, NetworkDenyCommand.self, NetworkPresetCommand.self])
}

struct NetworkAllowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allow", abstract: "Allow rules.",
                                                    subcommands: [RuleAddCommand<AllowAction>.self, RuleRemoveCommand<AllowAction>.self, RuleListCommand<AllowAction>.self])
}

struct NetworkDenyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deny", abstract: "Deny rules.",
                                                    subcommands: [RuleAddCommand<DenyAction>.self, RuleRemoveCommand<DenyAction>.self, RuleListCommand<DenyAction>.self])
}

protocol RuleActionKind { static var action: NetworkRule.Action { get } }
enum AllowAction: RuleActionKind { static let action = NetworkRule.Action.allow }
enum DenyAction: RuleActionKind { static let action = NetworkRule.Action.deny }

struct RuleAddCommand<Kind: RuleActionKind>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "add", abstract: "Add a rule: a domain (pypi.org, *.example.com) or a network (10.0.0.0/8).")
    }
    @OptionGroup var options: AdminOptions
    @Argument(help: "Domain, *.domain, or CIDR.") var destination: String
    @Option(name: .long, help: "Ports or ranges, comma-separated (default: any).") var ports: String?
    @Option(name: .long, help: "Allowed HTTP methods, comma-separated, or read-only (GET,HEAD,OPTIONS).") var methods: String?
    @Flag(name: .long, help: "With read-only methods: also allow git fetch over HTTP (POST .../git-upload-pack).") var gitFetch = false
    @Option(name: .long, help: "Rule id (default: derived from the rule).") var id: String?

    func validate() throws {
        if Kind.action == .deny && (methods != nil || gitFetch) { throw ValidationError("methods apply to allow rules; a deny rule refuses every method") }
        _ = try rule()
    }

    func rule() throws -> NetworkRule {
        do throws(PolicyError) {
            let target = try NetworkRule.Destination.parse(destination, forAllow: Kind.action == .allow)
            var portRanges: [PortRange] = []
            for text in SettingValue.list(ports ?? "") { portRanges.append(try PortRange.parse(text)) }
            var methodList: [String]? = nil
            if let methods {
                methodList = methods == "read-only" ? NetworkRule.readOnlyMethods : SettingValue.list(methods).map { $0.uppercased() }
            }
            return NetworkRule(id: id ?? NetworkRule.defaultID(action: Kind.action, destination: target, ports: portRanges),
                               action: Kind.action, destination: target, ports: portRanges, methods: methodList, gitFetch: gitFetch)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let rule = try rule()
        try AdminSession(options).change("network \(Kind.action.rawValue) add \(rule.summary)") { policy throws(PolicyError) in
            guard !policy.network.rules.contains(where: { $0.id == rule.id }) else {
                throw PolicyError(.refused, "a rule with id \"\(rule.id)\" exists; remove it first or give --id")
            }
            policy.network.rules.append(rule)
        }
    }
}

struct RuleRemoveCommand<Kind: RuleActionKind>: ParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "remove", abstract: "Remove a rule by id (see list).") }
    @OptionGroup var options: AdminOptions
    @Argument(help: "Rule id.") var id: String

    func run() throws {
        try AdminSession(options).change("network \(Kind.action.rawValue) remove \(id)") { policy throws(PolicyError) in
            guard policy.network.rules.contains(where: { $0.id == id && $0.action == Kind.action }) else {
                throw PolicyError(.notFound, "no \(Kind.action.rawValue) rule with id \"\(id)\"")
            }
            policy.network.rules.removeAll { $0.id == id }
        }
    }
}

struct RuleListCommand<Kind: RuleActionKind>: ParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "list", abstract: "List the rules.") }
    @OptionGroup var options: AdminOptions

    func run() throws {
        let session = try AdminSession(options)
        let rules = try session.current().policy.network.rules.filter { $0.action == Kind.action }
        if options.json { session.emit(rules); return }
        for rule in rules { print("\(rule.id)\n    \(rule.summary)") }
    }
}

struct NetworkPresetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "preset", abstract: "Rule presets shipped under policies/presets.",
                                                    subcommands: [PresetApplyCommand.self])
}

struct PresetApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Copy a preset's allow rules into the policy (again: replaces the earlier copy).")
    @OptionGroup var options: AdminOptions
    @Argument(help: "Preset name, e.g. common-dependencies.") var name: String

    func validate() throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { throw ValidationError("\"\(name)\" is not a preset name") }
    }

    func run() throws {
        let file = try AdminSession.policyFile("presets/\(name).yaml")
        let preset: NetworkPreset
        do { preset = try NetworkPreset.read(file.text, file: file.path) } catch {
            throw AdminSession.invalid(error.description)
        }
        try AdminSession(options).change("network preset apply \(name)") { policy throws(PolicyError) in preset.apply(to: &policy) }
    }
}
