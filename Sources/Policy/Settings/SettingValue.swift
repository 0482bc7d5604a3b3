/// Parsing and spelling of setting values as `warden-admin get/set` and history show them.
public enum SettingValue {
    public static func bool(_ text: String) throws(PolicyError) -> Bool {
        switch text.lowercased() {
        case "on", "true", "yes": return true
        case "off", "false", "no": return false
        default: throw PolicyError(.invalidValue, "\"\(text)\": expected on or off")
        }
    }

    public static func text(_ value: Bool) -> String { value ? "on" : "off" }

    /// A threshold as people write it: whole numbers without a decimal point.
    public static func text(number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    public static func enumeration<T: RawRepresentable & CaseIterable>(_ text: String, _: T.Type) throws(PolicyError) -> T where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// A comma-separated list; empty text is the empty list.
    public static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
    }

    /// A grant: `role:admin,user:alice` (bare names are users).
    public static func grant(_ text: String) throws(PolicyError) -> WeakeningGrant {
        var grant = WeakeningGrant()
        for item in list(text) {
            if item.hasPrefix("role:") {
                grant.roles.append(try enumeration(String(item.dropFirst(5)), Role.self))
            } else {
                grant.users.append(item.hasPrefix("user:") ? String(item.dropFirst(5)) : item)
            }
        }
        return grant
    }

    public static func text(_ grant: WeakeningGrant) -> String {
        (grant.roles.map { "role:\($0.rawValue)" } + grant.users.map { "user:\($0)" }).joined(separator: ",")
    }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\t" { scalars = scalars.dropFirst() }
        while scalars.last == " " || scalars.last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
