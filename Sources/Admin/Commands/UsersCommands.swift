import ArgumentParser
import Policy

/// `warden-admin users list|add|remove|role`.
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users", abstract: "Warden users: name, OS uid, role (member, auditor, admin).",
                                                    subcommands: [UsersListCommand.self, UsersAddCommand.self, UsersRemoveCommand.self, UsersRoleCommand.self])
}

struct UsersListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List users.")
    @OptionGroup var options: AdminOptions

    func run() throws {
        let session = try AdminSession(options)
        let users = try session.current().policy.users
        if options.json { session.emit(users); return }
        if users.isEmpty { print("no users (root and the owner of the Warden home are admins)") }
        for user in users { print("\(user.name.padding(toLength: 20)) uid \(String(user.uid).padding(toLength: 10)) \(user.role.rawValue)") }
    }
}

struct UsersAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a user.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "User name.") var name: String
    @Option(name: .long, help: "The user's OS uid on this host.") var uid: UInt32
    @Option(name: .long, help: "member (default), auditor or admin.") var role: String = Role.member.rawValue

    func validate() throws {
        guard Role(rawValue: role) != nil else { throw ValidationError("--role \(role): expected member, auditor or admin") }
        do { try PolicyUser.validateName(name) } catch { throw ValidationError(error.message) }
    }

    func run() throws {
        let role = Role(rawValue: role) ?? .member
        try AdminSession(options).change("users add \(name) --uid \(uid) --role \(role.rawValue)") { policy throws(PolicyError) in
            guard policy.user(named: name) == nil else { throw PolicyError(.refused, "user \"\(name)\" already exists") }
            policy.users.append(PolicyUser(name: name, uid: uid, role: role))
        }
    }
}

struct UsersRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a user (and their allow-list entry, privacy setting and grants).")
    @OptionGroup var options: AdminOptions
    @Argument(help: "User name.") var name: String

    func run() throws {
        try AdminSession(options).change("users remove \(name)") { policy throws(PolicyError) in
            guard policy.user(named: name) != nil else { throw PolicyError(.notFound, "unknown user \"\(name)\"") }
            policy.users.removeAll { $0.name == name }
            policy.security.allowedUsers.removeAll { $0 == name }
            policy.privacy.users[name] = nil
            for option in WeakeningOption.allCases { policy.sandbox.weakening[option].users.removeAll { $0 == name } }
        }
    }
}

struct UsersRoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "role", abstract: "Change a user's role.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "User name.") var name: String
    @Argument(help: "member, auditor or admin.") var role: String

    func validate() throws {
        guard Role(rawValue: role) != nil else { throw ValidationError("expected member, auditor or admin, found \"\(role)\"") }
    }

    func run() throws {
        let role = Role(rawValue: role) ?? .member
        try AdminSession(options).change("users role \(name) \(role.rawValue)") { policy throws(PolicyError) in
            guard let index = policy.users.firstIndex(where: { $0.name == name }) else { throw PolicyError(.notFound, "unknown user \"\(name)\"") }
            policy.users[index].role = role
        }
    }
}

/// `warden-admin allowlist users add|remove|list`: who may start agents under user restrictions.
struct AllowlistCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allowlist", abstract: "The allow list of users who may start agents.",
                                                    subcommands: [AllowlistUsersCommand.self])
}

struct AllowlistUsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Add, remove or list users on the allow list (in force when security.userRestriction is allowlist).",
        subcommands: [AllowlistAddCommand.self, AllowlistRemoveCommand.self, AllowlistListCommand.self])
}

struct AllowlistAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Allow users to start agents.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "User names.") var names: [String]
    @Flag(name: .long, help: "Also turn user restrictions on (security.userRestriction allowlist).") var enable = false

    func run() throws {
        try AdminSession(options).change("allowlist users add \(names.joined(separator: " "))" + (enable ? " --enable" : "")) { policy throws(PolicyError) in
            for name in names {
                guard policy.user(named: name) != nil else { throw PolicyError(.notFound, "unknown user \"\(name)\"; add them with `warden-admin users add`") }
                if !policy.security.allowedUsers.contains(name) { policy.security.allowedUsers.append(name) }
            }
            if enable { policy.security.userRestriction = .allowlist }
        }
    }
}

struct AllowlistRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Take users off the allow list.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "User names.") var names: [String]

    func run() throws {
        try AdminSession(options).change("allowlist users remove \(names.joined(separator: " "))") { policy throws(PolicyError) in
            for name in names {
                guard policy.security.allowedUsers.contains(name) else { throw PolicyError(.notFound, "\"\(name)\" is not on the allow list") }
                policy.security.allowedUsers.removeAll { $0 == name }
            }
        }
    }
}

struct AllowlistListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the allow list.")
    @OptionGroup var options: AdminOptions

    func run() throws {
        let session = try AdminSession(options)
        let security = try session.current().policy.security
        if options.json {
            struct Output: Encodable { var restriction: String; var users: [String] }
            session.emit(Output(restriction: security.userRestriction.rawValue, users: security.allowedUsers))
            return
        }
        print("user restrictions: \(security.userRestriction.rawValue)")
        for name in security.allowedUsers { print("  \(name)") }
    }
}
