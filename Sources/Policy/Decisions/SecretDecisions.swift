/// Who may manage secrets (R18): every Warden user their own; only admins the organisation's.
/// Auditors change nothing; strangers have no secrets.
extension PolicyEvaluator {
    public func mayManageSecret(_ user: Principal, organisation: Bool) -> Decision {
        guard let role = user.role else {
            return .deny("users", "\(user.name) is not a Warden user; secrets belong to Warden users (see `warden-admin users add`)")
        }
        if role == .auditor { return .deny("users.role", "auditors change nothing; \(user.name) may not manage secrets") }
        if organisation {
            return role == .admin
                ? .allow("users.role", "\(user.name) is an admin and manages the organisation's secrets")
                : .deny("users.role", "only admins manage the organisation's secrets; \(user.name) is a \(role.rawValue)")
        }
        return .allow("owner", "\(user.name) manages their own secrets")
    }
}
