import Policy

/// A named set of allow rules shipped under policies/presets/NAME.yaml. Applying a preset
/// copies its rules into the policy (tagged with the preset's name, replacing an earlier copy),
/// so every stored version is complete by itself.
public struct NetworkPreset: Sendable {
    public var name: String
    public var description: String
    public var rules: [NetworkRule]

    public static func read(_ text: String, file: String) throws(PolicyFileError) -> NetworkPreset {
        let tree = YAMLTree(file: file)
        let root = try tree.mapping(try YAMLTree.compose(text, file: file), "", allowed: ["preset", "description", "rules"])
        let name = try tree.string(try root.node("preset"), "preset")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw tree.fail(root["preset"], "preset", "a preset name is letters, digits and '-'")
        }
        let rules = try PolicyFileReader.rules(tree, try root.node("rules"), path: "rules", preset: name)
        return NetworkPreset(name: name, description: try tree.string(try root.node("description"), "description"), rules: rules)
    }

    /// `policy` with this preset's rules in place of any earlier copy of them.
    public func apply(to policy: inout OrgPolicy) {
        policy.network.rules.removeAll { $0.preset == name }
        policy.network.rules += rules
    }
}
