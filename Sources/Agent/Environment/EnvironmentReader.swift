/// A refused environment file: the file, the exact place, the field's path and what is wrong.
public struct EnvironmentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation
    /// "terminals[0].command"; empty for the document itself.
    public var path: String
    public var message: String

    public var description: String {
        "\(file):\(location): " + (path.isEmpty ? "" : "\(path): ") + message
    }
}

/// Reads `.cursor/environment.json` (comments allowed) into `AgentEnvironment`. Unknown keys,
/// wrong types and out-of-range values are refused with their location, never skipped: a field
/// Warden silently ignored would be a setting the developer believes is in force.
public enum EnvironmentReader {
    public static let keys: Set<String> = [
        "name", "user", "install", "start", "terminals", "ports", "repositoryDependencies", "disableAllMcpServers",
        "mcpServerAllowlist", "egressAllowlist", "egressMode", "chromeExecutablePath", "enable_testing", "snapshot", "image",
        "build", "agentCanUpdateSnapshot",
    ]

    /// `file` names the source in messages.
    public static func read(_ text: String, file: String = ".cursor/environment.json") throws(EnvironmentError) -> AgentEnvironment {
        let root: JSONCNode
        do {
            root = try JSONCParser.parse(text)
        } catch {
            throw EnvironmentError(file: file, location: error.location, path: "", message: error.message)
        }
        var fields = Fields(file: file)
        return try fields.environment(root)
    }

    struct Fields {
        let file: String

        func fail(_ node: JSONCNode, _ path: String, _ message: String) -> EnvironmentError {
            EnvironmentError(file: file, location: node.location, path: path, message: message)
        }

        func members(_ node: JSONCNode, _ path: String, allowed: Set<String>) throws(EnvironmentError) -> [String: JSONCNode] {
            guard case .object(let members) = node.value else { throw fail(node, path, "expected an object, found \(node.kindName)") }
            var result: [String: JSONCNode] = [:]
            for member in members {
                guard allowed.contains(member.key) else {
                    let known = allowed.sorted().joined(separator: ", ")
                    throw EnvironmentError(file: file, location: member.keyLocation, path: path.isEmpty ? member.key : "\(path).\(member.key)",
                                           message: "unknown key \"\(member.key)\" (known: \(known))")
                }
                result[member.key] = member.value
            }
            return result
        }

        func string(_ node: JSONCNode, _ path: String) throws(EnvironmentError) -> String {
            guard case .string(let text) = node.value else { throw fail(node, path, "expected a string, found \(node.kindName)") }
            guard !text.utf8.contains(0) else { throw fail(node, path, "contains a NUL character") }
            return text
        }

        func bool(_ node: JSONCNode, _ path: String) throws(EnvironmentError) -> Bool {
            guard case .bool(let value) = node.value else { throw fail(node, path, "expected true or false, found \(node.kindName)") }
            return value
        }

        func strings(_ node: JSONCNode, _ path: String) throws(EnvironmentError) -> [String] {
            guard case .array(let items) = node.value else { throw fail(node, path, "expected an array of strings, found \(node.kindName)") }
            var result: [String] = []
            for (index, item) in items.enumerated() { result.append(try string(item, "\(path)[\(index)]")) }
            return result
        }

        mutating func environment(_ root: JSONCNode) throws(EnvironmentError) -> AgentEnvironment {
            let fields = try members(root, "", allowed: EnvironmentReader.keys)
            var environment = AgentEnvironment()
            func optionalString(_ key: String) throws(EnvironmentError) -> String? {
                guard let node = fields[key] else { return nil }
                return try string(node, key)
            }
            func optionalBool(_ key: String) throws(EnvironmentError) -> Bool? {
                guard let node = fields[key] else { return nil }
                return try bool(node, key)
            }
            environment.name = try optionalString("name")
            environment.user = try optionalString("user")
            environment.install = try optionalString("install")
            environment.start = try optionalString("start")
            environment.chromeExecutablePath = try optionalString("chromeExecutablePath")
            environment.disableAllMcpServers = try optionalBool("disableAllMcpServers")
            environment.enableTesting = try optionalBool("enable_testing")
            environment.agentCanUpdateSnapshot = try optionalBool("agentCanUpdateSnapshot")
            if let node = fields["terminals"] { environment.terminals = try terminals(node, "terminals") }
            if let node = fields["ports"] { environment.ports = try ports(node) }
            if let node = fields["repositoryDependencies"] { environment.repositoryDependencies = try strings(node, "repositoryDependencies") }
            if let node = fields["mcpServerAllowlist"] { environment.mcpServerAllowlist = try strings(node, "mcpServerAllowlist") }
            if let node = fields["egressAllowlist"] { environment.egressAllowlist = try strings(node, "egressAllowlist") }
            if let node = fields["egressMode"] {
                let text = try string(node, "egressMode")
                guard let mode = AgentEnvironment.EgressMode(rawValue: text) else {
                    throw fail(node, "egressMode", "\"\(text)\" is not one of \(AgentEnvironment.EgressMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                environment.egressMode = mode
            }
            // snapshot takes precedence over image, which takes precedence over build; each
            // present one is still checked.
            var bases: [AgentEnvironment.Base] = []
            if let node = fields["snapshot"] { bases.append(.snapshot(try nonEmpty(node, "snapshot"))) }
            if let node = fields["image"] { bases.append(.image(try nonEmpty(node, "image"))) }
            if let node = fields["build"] { bases.append(.build(try build(node))) }
            environment.base = bases.first
            return environment
        }

        func nonEmpty(_ node: JSONCNode, _ path: String) throws(EnvironmentError) -> String {
            let text = try string(node, path)
            guard !text.isEmpty else { throw fail(node, path, "is empty") }
            return text
        }

        /// Objects, or arrays of them nested to any depth the parser accepts, in order.
        func terminals(_ node: JSONCNode, _ path: String) throws(EnvironmentError) -> [AgentEnvironment.Terminal] {
            switch node.value {
            case .array(let items):
                var result: [AgentEnvironment.Terminal] = []
                for (index, item) in items.enumerated() { result += try terminals(item, "\(path)[\(index)]") }
                return result
            case .object:
                let fields = try members(node, path, allowed: ["name", "command", "description"])
                guard let command = fields["command"] else { throw fail(node, path, "a terminal needs a \"command\"") }
                return [AgentEnvironment.Terminal(name: try fields["name"].map { node throws(EnvironmentError) in try string(node, path + ".name") },
                                                  command: try nonEmpty(command, path + ".command"),
                                                  description: try fields["description"].map { node throws(EnvironmentError) in try string(node, path + ".description") })]
            default:
                throw fail(node, path, "expected a terminal object or an array of them, found \(node.kindName)")
            }
        }

        func ports(_ node: JSONCNode) throws(EnvironmentError) -> [AgentEnvironment.Port] {
            guard case .array(let items) = node.value else { throw fail(node, "ports", "expected an array of {port, name}, found \(node.kindName)") }
            var result: [AgentEnvironment.Port] = []
            for (index, item) in items.enumerated() {
                let path = "ports[\(index)]"
                let fields = try members(item, path, allowed: ["port", "name"])
                guard let portNode = fields["port"] else { throw fail(item, path, "a port needs \"port\"") }
                guard case .number(let text) = portNode.value, let port = Int(text), (1...65_535).contains(port) else {
                    throw fail(portNode, path + ".port", "expected a whole number from 1 to 65535")
                }
                result.append(AgentEnvironment.Port(port: UInt16(port), name: try fields["name"].map { node throws(EnvironmentError) in try string(node, path + ".name") }))
            }
            return result
        }

        func build(_ node: JSONCNode) throws(EnvironmentError) -> AgentEnvironment.Build {
            let fields = try members(node, "build", allowed: ["dockerfile", "dockerfileContents", "context"])
            let dockerfile = try fields["dockerfile"].map { node throws(EnvironmentError) in try nonEmpty(node, "build.dockerfile") }
            let contents = try fields["dockerfileContents"].map { node throws(EnvironmentError) in try nonEmpty(node, "build.dockerfileContents") }
            guard (dockerfile == nil) != (contents == nil) else {
                throw fail(node, "build", "needs exactly one of \"dockerfile\" or \"dockerfileContents\"")
            }
            let context = try fields["context"].map { node throws(EnvironmentError) in try string(node, "build.context") }
            // Without a context, the folder holding the file.
            guard let resolvedContext = context.map(EnvironmentPaths.resolve) ?? ".cursor" else {
                throw fail(fields["context"] ?? node, "build.context", "\"\(context ?? "")\" leaves the repository")
            }
            var resolvedDockerfile: String?
            if let dockerfile {
                // Docker reads the Dockerfile relative to the context.
                guard let resolved = EnvironmentPaths.join(resolvedContext, dockerfile) else {
                    throw fail(fields["dockerfile"] ?? node, "build.dockerfile", "\"\(dockerfile)\" leaves the repository")
                }
                resolvedDockerfile = resolved
            }
            return AgentEnvironment.Build(dockerfile: dockerfile, dockerfileContents: contents, context: context,
                                          resolvedContext: resolvedContext, resolvedDockerfile: resolvedDockerfile)
        }
    }
}
