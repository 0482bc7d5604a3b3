/// Paths in an environment file, as the format defines them: relative to `.cursor/`, except
/// that `.`, `./` and `..` mean the repository root. Results are relative to the repository
/// root ("" is the root itself) and never leave it.
enum EnvironmentPaths {
    static func resolve(_ path: String) -> String? {
        if path == "." || path == "./" || path == ".." || path == "../" { return "" }
        guard !path.hasPrefix("/") else { return nil }
        return join(".cursor", path)
    }

    /// `path` relative to `base` (both relative to the root), normalised lexically; nil when
    /// it is absolute or climbs above the root.
    static func join(_ base: String, _ path: String) -> String? {
        guard !path.hasPrefix("/"), !path.utf8.contains(0) else { return nil }
        var components = base.split(separator: "/").map(String.init)
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                guard !components.isEmpty else { return nil }
                components.removeLast()
            default:
                components.append(String(component))
            }
        }
        return components.joined(separator: "/")
    }
}
