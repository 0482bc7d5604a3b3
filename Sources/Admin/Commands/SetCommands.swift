import ArgumentParser
import Policy

/// `warden-admin set KEY VALUE`: any scalar setting.
struct SetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Change one setting (admins; members only their own privacy.users.NAME).",
        discussion: "KEYS\n" + PolicySettings.descriptors.map { "  \($0.key.padding(toLength: 36)) \($0.help)" }.joined(separator: "\n")
            + "\n  privacy.users.NAME                   a user's own privacy mode (on, off or default)\n\n" + AdminExitCode.summary)
    @OptionGroup var options: AdminOptions
    @Argument(help: "The setting.") var key: String
    @Argument(help: "The new value.") var value: String

    func validate() throws {
        do { _ = try PolicySettings.descriptor(key) } catch { throw ValidationError(error.message) }
    }

    func run() throws {
        try AdminSession(options).change("set \(key) \(value)") { policy throws(PolicyError) in
            try PolicySettings.set(&policy, key, value)
        }
    }
}

/// `warden-admin privacy set on|off [--user U] [--enforce]`.
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "privacy", abstract: "Privacy mode: the org default, enforcement, a user's own setting.",
                                                    subcommands: [PrivacySetCommand.self])
}

struct PrivacySetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set privacy mode on or off for the org (default) or one user; --enforce stops users turning it off.",
        discussion: "Agents keep the privacy mode they started with until they complete.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "on or off.") var mode: String
    @Option(name: .long, help: "Set this user's own setting instead of the org default.") var user: String?
    @Flag(name: .long, help: "Enforce: users cannot turn privacy mode off (only with on).") var enforce = false
    @Flag(name: .long, help: "Stop enforcing (users may choose again).") var noEnforce = false

    func validate() throws {
        guard mode == "on" || mode == "off" else { throw ValidationError("expected on or off, found \"\(mode)\"") }
        if enforce && mode == "off" { throw ValidationError("--enforce keeps privacy mode on; it cannot be combined with off") }
        if enforce && noEnforce { throw ValidationError("--enforce and --no-enforce contradict each other") }
        if user != nil && (enforce || noEnforce) { throw ValidationError("enforcement is organisation-wide; drop --user") }
    }

    func run() throws {
        let on = mode == "on"
        try AdminSession(options).change("privacy set \(mode)" + (user.map { " --user \($0)" } ?? "") + (enforce ? " --enforce" : "")) { policy throws(PolicyError) in
            if let user {
                guard policy.user(named: user) != nil else { throw PolicyError(.notFound, "unknown user \"\(user)\"") }
                policy.privacy.users[user] = on
            } else {
                policy.privacy.orgDefault = on
                if enforce { policy.privacy.enforced = true }
                if noEnforce { policy.privacy.enforced = false }
            }
        }
    }
}

/// `warden-admin retention set DURATION [--audit DURATION]`.
struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retention", abstract: "How long finished agents' data and audit records are kept.",
                                                    subcommands: [RetentionSetCommand.self])
}

struct RetentionSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Set how long a finished agent's workspace, logs and transcript are kept (e.g. 3d).")
    @OptionGroup var options: AdminOptions
    @Argument(help: "Agent data retention, e.g. 3d.") var duration: String
    @Option(name: .long, help: "Also set audit record retention, e.g. 90d.") var audit: String?

    func run() throws {
        try AdminSession(options).change("retention set \(duration)" + (audit.map { " --audit \($0)" } ?? "")) { policy throws(PolicyError) in
            try PolicySettings.set(&policy, "retention.agentData", duration)
            if let audit { try PolicySettings.set(&policy, "retention.audit", audit) }
        }
    }
}

/// `warden-admin followups team on|off`.
struct FollowupsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "followups", abstract: "Who may send follow-ups to agents.",
                                                    subcommands: [SwitchCommand<TeamFollowUps>.self])
}

/// `warden-admin summary display|external on|off`.
struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Whether agent summaries show file diffs and code snippets.",
                                                    subcommands: [SwitchCommand<SummaryDisplay>.self, SwitchCommand<SummaryExternal>.self])
}

/// An on/off setting with a command of its own.
protocol SwitchSetting {
    static var name: String { get }
    static var abstract: String { get }
    static var key: String { get }
    /// How the command is written in history, before the value.
    static var command: String { get }
}

enum TeamFollowUps: SwitchSetting {
    static let name = "team", key = "security.teamFollowUps", command = "followups team"
    static let abstract = "on: anyone may follow up on any agent; off: only the owner and admins."
}

enum SummaryDisplay: SwitchSetting {
    static let name = "display", key = "security.displaySummary", command = "summary display"
    static let abstract = "Show diffs and code snippets in agent summaries (on or off)."
}

enum SummaryExternal: SwitchSetting {
    static let name = "external", key = "security.displaySummaryExternal", command = "summary external"
    static let abstract = "The same in external channels such as chat integrations (on or off)."
}

struct SwitchCommand<Setting: SwitchSetting>: ParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: Setting.name, abstract: Setting.abstract) }
    @OptionGroup var options: AdminOptions
    @Argument(help: "on or off.") var mode: String

    func run() throws {
        try AdminSession(options).change("\(Setting.command) \(mode)") { policy throws(PolicyError) in
            try PolicySettings.set(&policy, Setting.key, mode)
        }
    }
}

/// `warden-admin defaults set model|repository|branch VALUE`.
struct DefaultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "defaults", abstract: "Defaults new agents start from.", subcommands: [DefaultsSetCommand.self])
}

struct DefaultsSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Set the default model, repository or base branch.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "model, repository or branch.") var name: String
    @Argument(help: "The value.") var value: String

    func validate() throws {
        guard ["model", "repository", "branch"].contains(name) else { throw ValidationError("expected model, repository or branch, found \"\(name)\"") }
    }

    func run() throws {
        try AdminSession(options).change("defaults set \(name) \(value)") { policy throws(PolicyError) in
            try PolicySettings.set(&policy, "defaults.\(name)", value)
        }
    }
}
