/// What kind of destination an address is. Public addresses follow the rules; internal ones
/// (private networks) need an explicit admin rule; forbidden ones are refused whatever the
/// rules say (R20): loopback, "this network", shared address space, link-local and cloud
/// metadata, multicast, reserved and broadcast.
public enum AddressClass: String, Sendable {
    case publicAddress = "public"
    case internalNetwork = "internal"
    case forbidden

    public static func of(_ address: IPAddress) -> (class: AddressClass, range: String) {
        let address = address.canonical
        for (range, kind) in table where range.contains(address) { return (kind, range.description) }
        return (.publicAddress, "")
    }

    private static let table: [(CIDR, AddressClass)] = {
        // Loopback, "this network", shared address space, link-local (cloud metadata), IETF
        // protocol assignments, documentation (TEST-NETs, 2001:db8::/32), multicast, reserved and
        // broadcast; IPv6 loopback, link- and site-local, discard, Teredo and the local-use NAT64
        // prefix (whose IPv4 part cannot be located without knowing the prefix length), and the
        // IPv6 cloud metadata address.
        let forbidden = [
            "0.0.0.0/8", "127.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24",
            "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fe80::/10", "ff00::/8", "fec0::/10", "100::/64",
            "2001::/32", "2001:db8::/32", "64:ff9b:1::/48", "fd00:ec2::254/128",
        ]
        let internalRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "198.18.0.0/15", "fc00::/7"]
        // Literals above are well-formed; a failure here is caught by the tests of this table.
        return forbidden.compactMap { try? CIDR.parse($0) }.map { ($0, AddressClass.forbidden) }
            + internalRanges.compactMap { try? CIDR.parse($0) }.map { ($0, AddressClass.internalNetwork) }
    }()
}
