/// A person Warden knows: a name, the OS uid that identifies them on a host, and a role.
public struct PolicyUser: Codable, Sendable, Equatable, Hashable {
    public var name: String
    public var uid: UInt32
    public var role: Role

    public init(name: String, uid: UInt32, role: Role) {
        self.name = name
        self.uid = uid
        self.role = role
    }

    /// User names are short identifiers: they appear in tables, rule ids and history.
    public static func validateName(_ name: String) throws(PolicyError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, name.utf8.first != 0x2D else {
            throw PolicyError(.invalidValue, "user name \"\(name)\" must be 1-64 characters of a-z, 0-9, '.', '_' or '-'")
        }
        // "root" names the bootstrap admin (uid 0) in decisions, history and secrets' owners;
        // another user by that name would share them.
        guard name != "root" else { throw PolicyError(.refused, "user name \"root\" is reserved for uid 0") }
    }
}

extension PolicyUser {
    /// How history, diffs and the settings rows show a user: `uid 4242, member`.
    public var flattened: String { "uid \(uid), \(role.rawValue)" }

    /// Reads `flattened` back.
    public init?(flattened: String, name: String) {
        let parts = flattened.split(separator: ",").map { $0.split(separator: " ") }
        guard parts.count == 2, parts[0].count == 2, parts[0][0] == "uid", let uid = UInt32(parts[0][1]),
              parts[1].count == 1, let role = Role(rawValue: String(parts[1][0])) else { return nil }
        self.init(name: name, uid: uid, role: role)
    }
}

/// What a user may do. Auditors read every audit record and change nothing (R25).
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case member
    case auditor
    case admin

    public static func < (a: Role, b: Role) -> Bool {
        let order: [Role] = [.member, .auditor, .admin]
        return (order.firstIndex(of: a) ?? 0) < (order.firstIndex(of: b) ?? 0)
    }
}

/// Who is asking, as the policy sees them. Root is the bootstrap admin (it can write the
/// store anyway); everyone else is who the user list says, or a stranger whom every decision
/// treats as the least-privileged caller. Owning a directory grants nothing: a policy binds
/// only where the caller cannot write it (see `PolicyHome`).
public struct Principal: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case root
        case user(PolicyUser)
        case stranger
    }

    public var uid: UInt32
    public var kind: Kind

    public init(uid: UInt32, kind: Kind) {
        self.uid = uid
        self.kind = kind
    }

    /// Resolves a uid against the policy.
    public static func resolve(uid: UInt32, policy: OrgPolicy) -> Principal {
        if uid == 0 { return Principal(uid: 0, kind: .root) }
        if let user = policy.users.first(where: { $0.uid == uid }) { return Principal(uid: uid, kind: .user(user)) }
        return Principal(uid: uid, kind: .stranger)
    }

    public var role: Role? {
        switch kind {
        case .root: return .admin
        case .user(let user): return user.role
        case .stranger: return nil
        }
    }

    public var isAdmin: Bool { role == .admin }

    /// The name decisions and history use: the Warden user name, or `uid:N`.
    public var name: String {
        switch kind {
        case .root: return "root"
        case .user(let user): return user.name
        case .stranger: return "uid:\(uid)"
        }
    }

    public var description: String {
        switch kind {
        case .root: return "root (bootstrap admin)"
        case .user(let user): return "\(user.name) (\(user.role.rawValue))"
        case .stranger: return "uid \(uid) (not a Warden user)"
        }
    }
}
