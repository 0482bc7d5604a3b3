/// The nftables ruleset loaded into each sandbox's network namespace. Every TCP connection to
/// a non-loopback address, IPv4 or IPv6, is redirected to the guard's port; DNS (UDP and TCP,
/// any server) to the guard's resolver. Nothing else leaves: UDP to port 443 is rejected at
/// once (QUIC clients fall back to TCP); every other packet (UDP, ICMP, other protocols) is
/// dropped. Both are logged to an NFLOG group the guard reads, so each drop is recorded.
/// Replies of redirected flows (established in conntrack) pass: no flow to the outside can be
/// established, since its first packet is redirected or dropped.
enum CaptureRules {
    static let proxyPort: UInt16 = 15001
    static let resolverPort: UInt16 = 53
    /// The explicit proxy programs reach through HTTP_PROXY/HTTPS_PROXY (loopback: not
    /// redirected, and accepted by the outbound chain).
    static let explicitProxyPort: UInt16 = 3128
    static let logGroup: UInt16 = 7

    static var ruleset: String {
        """
        table inet warden {
            chain capture {
                type nat hook output priority -100; policy accept;
                ip daddr 127.0.0.0/8 return
                ip6 daddr ::1 return
                meta l4proto { tcp, udp } th dport 53 redirect to :\(resolverPort)
                meta l4proto tcp redirect to :\(proxyPort)
            }
            chain outbound {
                type filter hook output priority 0; policy drop;
                ct state established,related accept
                ip daddr 127.0.0.0/8 accept
                ip6 daddr ::1 accept
                meta l4proto udp th dport 443 log prefix "quic" group \(logGroup) reject with icmpx type port-unreachable
                log prefix "drop" group \(logGroup) drop
            }
        }

        """
    }
}
