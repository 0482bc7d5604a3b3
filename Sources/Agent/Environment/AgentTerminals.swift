/// The environment's `terminals`, as the tmux sessions that run them inside the sandbox. The
/// repository names them freely; a session name is Warden's own (letters, digits, `-`, `_`,
/// unique), so the name never reaches tmux's target syntax (`:` and `.` mean window and pane).
public struct AgentTerminal: Codable, Sendable, Equatable {
    /// The tmux session, and the name `warden agent terminals ID NAME` takes.
    public var session: String
    public var description: String?
    public var command: String

    public static let maxSessionLength = 32

    /// One session per entry, in the file's order.
    public static func sessions(for terminals: [AgentEnvironment.Terminal]) -> [AgentTerminal] {
        var taken = Set<String>()
        var result: [AgentTerminal] = []
        for (index, terminal) in terminals.enumerated() {
            var base = sanitized(terminal.name ?? "")
            if base.isEmpty { base = "terminal-\(index + 1)" }
            var session = base
            var suffix = 2
            while taken.contains(session) {
                session = "\(base.prefix(maxSessionLength - 4))-\(suffix)"
                suffix += 1
            }
            taken.insert(session)
            result.append(AgentTerminal(session: session, description: terminal.description, command: terminal.command))
        }
        return result
    }

    static func sanitized(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            let allowed = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_")
            result.unicodeScalars.append(allowed ? scalar : "-")
        }
        return String(result.prefix(maxSessionLength))
    }

    public static func isValidSession(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxSessionLength && sanitized(name) == name
    }
}
