@testable import Policy

/// Users and helpers shared by the policy tests.
enum Fixture {
    static let alice = PolicyUser(name: "alice", uid: 1001, role: .member)
    static let bob = PolicyUser(name: "bob", uid: 1002, role: .member)
    static let carol = PolicyUser(name: "carol", uid: 1003, role: .admin)
    static let dave = PolicyUser(name: "dave", uid: 1004, role: .auditor)

    static var policy: OrgPolicy {
        var policy = OrgPolicy()
        policy.users = [alice, bob, carol, dave]
        return policy
    }

    static func principal(_ user: PolicyUser) -> Principal { Principal(uid: user.uid, kind: .user(user)) }
    static let stranger = Principal(uid: 5000, kind: .stranger)

    static func rule(_ action: NetworkRule.Action, _ destination: String, ports: [UInt16] = [], methods: [String]? = nil,
                     gitFetch: Bool = false, id: String? = nil) throws -> NetworkRule {
        let target: NetworkRule.Destination = destination.contains("/") || IPAddress(destination) != nil
            ? .network(try CIDR.parse(destination)) : .domain(try DomainPattern.parse(destination, forAllow: false))
        let portRanges = ports.map { PortRange($0) }
        return NetworkRule(id: id ?? NetworkRule.defaultID(action: action, destination: target, ports: portRanges), action: action,
                           destination: target, ports: portRanges, methods: methods, gitFetch: gitFetch)
    }

    static func network(_ mode: NetworkPolicy.Mode, _ rules: [NetworkRule]) -> NetworkPolicy {
        var network = NetworkPolicy()
        network.mode = mode
        network.rules = rules
        return network
    }

    static func request(_ host: String?, ip: String? = nil, port: UInt16 = 443, method: String? = nil, path: String? = nil) -> EgressRequest? {
        EgressRequest(host: host, address: ip.flatMap { IPAddress($0) }, port: port, method: method, path: path)
    }
}
