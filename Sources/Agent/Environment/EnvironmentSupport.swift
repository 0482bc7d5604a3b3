import Policy

/// What of an environment file this host cannot honour, said at start (never silently
/// ignored): each notice names the field and what Warden does instead.
public enum EnvironmentSupport {
    public struct Notice: Sendable, Equatable, CustomStringConvertible {
        public var field: String
        public var message: String
        public var description: String { "\(field): \(message)" }
    }

    /// `containerEngine`: whether a container engine is available to build or pull a base.
    /// `snapshotUpdates`: whether the policy honours `agentCanUpdateSnapshot`
    /// (`sandbox.agentSnapshotUpdates`).
    public static func notices(_ environment: AgentEnvironment, containerEngine: Bool = false, snapshotUpdates: Bool = false) -> [Notice] {
        var notices: [Notice] = []
        switch environment.base {
        case .snapshot(let id)?:
            notices.append(Notice(field: "snapshot", message: "\"\(id)\" is a snapshot of another service; Warden prepares its own from the host base and `install`"))
        case .image(let image)? where !containerEngine:
            notices.append(Notice(field: "image", message: "\"\(image)\" needs a container engine, and this host has none; the agent runs on the host base"))
        case .build(let build)? where !containerEngine:
            let what = build.resolvedDockerfile.map { "the Dockerfile \($0.isEmpty ? "." : $0)" } ?? "dockerfileContents"
            notices.append(Notice(field: "build", message: "building \(what) needs a container engine, and this host has none; the agent runs on the host base"))
        default:
            break
        }
        if let user = environment.user, user != "agent" {
            notices.append(Notice(field: "user", message: "the agent runs as Warden's unprivileged user \"agent\", not \"\(user)\" (install runs as root inside the sandbox)"))
        }
        if environment.disableAllMcpServers != nil || environment.mcpServerAllowlist != nil {
            notices.append(Notice(field: "mcpServerAllowlist", message: "Warden starts no MCP servers; the agent program's own configuration decides"))
        }
        if environment.chromeExecutablePath != nil {
            notices.append(Notice(field: "chromeExecutablePath", message: "Warden provides no browser and does not use this path"))
        }
        if environment.enableTesting != nil {
            notices.append(Notice(field: "enable_testing", message: "has no meaning in Warden and is not used"))
        }
        if let mode = environment.egressMode {
            notices.append(Notice(field: "egressMode", message: "\"\(mode.rawValue)\" is not used: the organisation's network policy decides, and the repository's egressAllowlist may only narrow it (or widen it where the policy allows)"))
        }
        for entry in environment.egressAllowlist ?? [] where (try? DomainPattern.parse(entry, forAllow: false)) == nil {
            notices.append(Notice(field: "egressAllowlist", message: "\"\(entry.prefix(80))\" is not a domain pattern and is left out (which narrows further)"))
        }
        if environment.agentCanUpdateSnapshot == true && !snapshotUpdates {
            notices.append(Notice(field: "agentCanUpdateSnapshot", message: "not honoured: the organisation's policy (sandbox.agentSnapshotUpdates) lets only `install` build a snapshot; what the agent changes in $HOME is discarded when it ends"))
        }
        if !environment.repositoryDependencies.isEmpty {
            notices.append(Notice(field: "repositoryDependencies", message: "the agent gets no repository token; these repositories are reachable only as the network policy allows"))
        }
        return notices
    }
}
