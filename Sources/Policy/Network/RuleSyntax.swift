/// The one-line rule syntax of `warden run --allow/--deny`: a destination, optional ports,
/// optional methods (allow rules only).
///
///     pypi.org            *.example.com:443          10.0.0.0/8:80,8000-8999
///     [fd00::/8]:443      api.example.com:443@GET,HEAD      git.example.com@read-only
///
/// `read-only` is GET, HEAD and OPTIONS plus the reads made with POST: git fetch
/// (`…/git-upload-pack`) and npm audit.
public enum RuleSyntax {
    public static func parse(_ text: String, action: NetworkRule.Action, idPrefix: String = "run") throws(PolicyError) -> NetworkRule {
        guard !text.isEmpty, !text.contains(where: { $0 == " " || $0 == "\t" }) else {
            throw PolicyError(.invalidValue, "\"\(text)\": expected DEST[:PORTS][@METHODS], e.g. pypi.org:443@GET,HEAD")
        }
        var body = Substring(text)
        var methods: [String]? = nil
        var gitFetch = false
        if let at = body.lastIndex(of: "@") {
            let list = body[body.index(after: at)...]
            body = body[..<at]
            guard action == .allow else { throw PolicyError(.invalidValue, "\"\(text)\": methods apply to allow rules; a deny rule refuses every method") }
            if list == "read-only" {
                // Reads include git fetch (a POST to git-upload-pack); pushes stay refused.
                methods = NetworkRule.readOnlyMethods
                gitFetch = true
            } else {
                let names = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.uppercased() }
                guard !names.isEmpty, names.allSatisfy({ NetworkRule.knownMethods.contains($0) }) else {
                    throw PolicyError(.invalidValue, "\"\(text)\": unknown HTTP method in \"\(list)\" (known: \(NetworkRule.knownMethods.sorted().joined(separator: ",")), or read-only)")
                }
                methods = names
            }
        }
        var destination = body
        var portText: Substring? = nil
        if body.hasPrefix("[") {
            guard let close = body.firstIndex(of: "]") else { throw PolicyError(.invalidValue, "\"\(text)\": missing ] after an IPv6 destination") }
            destination = body[body.index(after: body.startIndex)..<close]
            let rest = body[body.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw PolicyError(.invalidValue, "\"\(text)\": expected :PORTS after ]") }
                portText = rest.dropFirst()
            }
        } else if body.filter({ $0 == ":" }).count == 1, let colon = body.firstIndex(of: ":") {
            destination = body[..<colon]
            portText = body[body.index(after: colon)...]
        }
        var ports: [PortRange] = []
        if let portText {
            for part in portText.split(separator: ",", omittingEmptySubsequences: false) { ports.append(try PortRange.parse(String(part))) }
        }
        let target = try NetworkRule.Destination.parse(String(destination), forAllow: action == .allow)
        let id = idPrefix + ":" + NetworkRule.defaultID(action: action, destination: target, ports: ports)
        return NetworkRule(id: id, action: action, destination: target, ports: ports, methods: methods, gitFetch: gitFetch)
    }
}
