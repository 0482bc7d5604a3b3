import Policy

/// A repository's `.cursor/environment.json`: how its agents' machine is prepared. Every field
/// of the format is read; `EnvironmentSupport` says which ones this host cannot honour.
public struct AgentEnvironment: Sendable, Equatable {
    public var name: String?
    /// The user the agent runs as in the original service; Warden's agent user is fixed.
    public var user: String?
    /// Runs once when the environment is prepared; the disk state after it is cached.
    public var install: String?
    /// Runs at each agent start (light services).
    public var start: String?
    /// Run in tmux inside the sandbox; nested arrays in the file are flattened in order.
    public var terminals: [Terminal] = []
    public var ports: [Port] = []
    /// Other repositories the agent's token may access (not cloned).
    public var repositoryDependencies: [String] = []
    public var disableAllMcpServers: Bool?
    public var mcpServerAllowlist: [String]?
    /// May only narrow the organisation's allow list unless the policy lets repositories widen it.
    public var egressAllowlist: [String]?
    public var egressMode: EgressMode?
    public var chromeExecutablePath: String?
    public var enableTesting: Bool?
    /// `snapshot` (taking precedence), else `image`, else `build`.
    public var base: Base?
    public var agentCanUpdateSnapshot: Bool?

    public init() {}

    /// The repository's `egressAllowlist` as domain patterns (nil: it has none); entries that
    /// are not patterns are left out, which only narrows further (`EnvironmentSupport` says so).
    public var egressPatterns: [DomainPattern]? {
        egressAllowlist.map { entries in entries.compactMap { try? DomainPattern.parse($0, forAllow: false) } }
    }

    public struct Terminal: Sendable, Equatable {
        public var name: String?
        public var command: String
        public var description: String?

        public init(name: String?, command: String, description: String?) {
            self.name = name
            self.command = command
            self.description = description
        }
    }

    public struct Port: Sendable, Equatable {
        public var port: UInt16
        public var name: String?

        public init(port: UInt16, name: String?) {
            self.port = port
            self.name = name
        }
    }

    public enum EgressMode: String, Sendable, CaseIterable {
        case allowAll = "allow_all"
        case parentPlusNetworkSettings = "parent_plus_network_settings"
        case defaultWithNetworkSettings = "default_with_network_settings"
        case networkSettingsOnly = "network_settings_only"
    }

    public enum Base: Sendable, Equatable {
        /// An id of a snapshot in the original service.
        case snapshot(String)
        case image(String)
        case build(Build)
    }

    public struct Build: Sendable, Equatable {
        /// As written, and resolved: relative to the repository root, never outside it.
        public var dockerfile: String?
        public var dockerfileContents: String?
        public var context: String?
        public var resolvedContext: String
        public var resolvedDockerfile: String?
    }
}
