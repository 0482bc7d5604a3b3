/// Checks a whole policy for what single fields cannot show: references to unknown users,
/// duplicate names and ids, allow rules too broad to allow, values out of range. Every problem
/// is reported with the path it is at, so a file reader can point at the line.
public enum PolicyValidator {
    public static func problems(_ policy: OrgPolicy) -> [PolicyError] {
        var problems: [PolicyError] = []
        func problem(_ path: String, _ code: PolicyError.Code, _ message: String) {
            problems.append(PolicyError(code, message, path: path))
        }
        var names = Set<String>(), uids = Set<UInt32>()
        for (index, user) in policy.users.enumerated() {
            do throws(PolicyError) { try PolicyUser.validateName(user.name) } catch { problem("users[\(index)].name", .invalidValue, error.message) }
            if !names.insert(user.name).inserted { problem("users[\(index)].name", .refused, "user \"\(user.name)\" is listed twice") }
            if !uids.insert(user.uid).inserted { problem("users[\(index)].uid", .refused, "uid \(user.uid) belongs to two users") }
            if user.uid == 0 { problem("users[\(index)].uid", .refused, "uid 0 is root, the bootstrap admin; it cannot be a listed user") }
        }
        func known(_ name: String, _ path: String) {
            if !names.contains(name) { problem(path, .refused, "unknown user \"\(name)\"; add them under users first") }
        }
        for (index, name) in policy.security.allowedUsers.enumerated() { known(name, "security.allowedUsers[\(index)]") }
        for name in policy.privacy.users.keys.sorted() { known(name, "privacy.users.\(name)") }
        for option in WeakeningOption.allCases {
            for (index, name) in policy.sandbox.grant(for: option).users.enumerated() { known(name, "sandbox.weakening.\(option.rawValue).users[\(index)]") }
        }
        for (index, entry) in policy.network.tls.exclude.enumerated() {
            do throws(PolicyError) { try TLSInspectionPolicy.checkExclusions([entry]) } catch { problem("network.tls.exclude[\(index)]", error.code, error.message) }
        }
        for (index, path) in policy.network.tls.trustedCAs.enumerated() {
            do throws(PolicyError) { try TLSInspectionPolicy.checkTrustedCAs([path]) } catch { problem("network.tls.trustedCAs[\(index)]", error.code, error.message) }
        }
        var ids = Set<String>()
        for (index, rule) in policy.network.rules.enumerated() {
            let path = "network.rules[\(index)]"
            if rule.id.isEmpty || rule.id.utf8.count > 200 || rule.id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                problem(path + ".id", .invalidValue, "a rule id is 1-200 printable characters")
            }
            if !ids.insert(rule.id).inserted { problem(path + ".id", .refused, "rule id \"\(rule.id)\" is used twice") }
            if rule.action == .allow, case .domain(let pattern) = rule.destination {
                do throws(PolicyError) { _ = try DomainPattern.parse(pattern.description, forAllow: true) } catch { problem(path + ".domain", error.code, error.message) }
            }
            if rule.action == .allow, case .network(let cidr) = rule.destination, cidr.prefix < (cidr.address.width == 32 ? 8 : 16) {
                problem(path + ".cidr", .refused, "\(cidr) is too broad for an allow rule; use network mode monitor for public destinations")
            }
            for method in rule.methods ?? [] where !NetworkRule.knownMethods.contains(method) {
                problem(path + ".methods", .invalidValue, "\"\(method)\" is not an HTTP method (expected \(NetworkRule.knownMethods.sorted().joined(separator: ", ")))")
            }
            if rule.action == .deny, rule.methods != nil { problem(path + ".methods", .refused, "methods apply to allow rules; a deny rule refuses every method") }
        }
        let sandbox = policy.sandbox
        if sandbox.memory.bytes < 16 << 20 { problem("sandbox.memory", .invalidValue, "at least 16M") }
        if sandbox.pids < 2 || sandbox.pids > 4_194_304 { problem("sandbox.pids", .invalidValue, "expected a number from 2 to 4194304") }
        if let cpus = sandbox.cpus, !(cpus >= 0.01 && cpus <= 4096) { problem("sandbox.cpus", .invalidValue, "expected a fraction of CPUs from 0.01 to 4096") }
        if let timeout = sandbox.timeout, timeout.seconds > 31_536_000 { problem("sandbox.timeout", .invalidValue, "at most one year") }
        if !isProfileName(sandbox.seccompProfile) {
            problem("sandbox.seccompProfile", .invalidValue, "a shipped profile name (letters, digits, '-', '_'), such as default")
        }
        do throws(PolicyError) { try checkBranch(policy.defaults.branch) } catch { problem("defaults.branch", error.code, error.message) }
        if let program = policy.defaults.agentCommand.first, !program.hasPrefix("/") {
            problem("defaults.agentCommand", .invalidValue, "\"\(program)\": the agent program must be an absolute path inside the sandbox")
        }
        do throws(PolicyError) { try checkWebhook(policy.security.webhook) } catch { problem("security.webhook", error.code, error.message) }
        if policy.retention.agentData.seconds < 3_600 { problem("retention.agentData", .invalidValue, "at least 1h: a finished agent's result must be collectable") }
        if policy.retention.audit.seconds < 86_400 { problem("retention.audit", .invalidValue, "at least 1d") }
        return problems
    }

    /// A webhook is https, or plain http only to this machine's loopback (a local relay): a
    /// notice can carry a summary of code. No credentials in the URL, no control characters.
    public static func checkWebhook(_ url: String) throws(PolicyError) {
        guard !url.isEmpty else { return }
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = url.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = url.dropFirst(7)
            let host = rest.prefix { $0 != "/" && $0 != "?" }
            let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }.dropFirst()) : String(host.split(separator: ":").first ?? "")
            guard name == "localhost" || name == "::1" || name.hasPrefix("127.") else {
                throw PolicyError(.invalidValue, "\"\(url.prefix(80))\": plain http only to loopback (127.0.0.0/8, ::1, localhost); use https")
            }
        } else {
            throw PolicyError(.invalidValue, "\"\(url.prefix(80))\": expected an https:// URL")
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        guard !authority.isEmpty, !authority.contains("@"), url.utf8.count <= 2048,
              !url.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
            throw PolicyError(.invalidValue, "\"\(url.prefix(80))\": a URL with a host, no credentials, spaces or control characters")
        }
    }

    /// Throws the first problem, if any.
    public static func validate(_ policy: OrgPolicy) throws(PolicyError) {
        if let first = problems(policy).first { throw first }
    }

    static func isProfileName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
        }
    }

    /// A plausible git branch name (the rules of git check-ref-format that matter here).
    static func checkBranch(_ name: String) throws(PolicyError) {
        let bad = name.isEmpty || name.hasPrefix("-") || name.hasPrefix("/") || name.hasSuffix("/") || name.hasSuffix(".lock")
            || name.contains("..") || name.contains("@{") || name.contains("//")
            || name.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7F || "~^:?*[\\".unicodeScalars.contains($0) }
        if bad { throw PolicyError(.invalidValue, "\"\(name)\" is not a valid branch name") }
    }
}
