/// One thing a sandbox did on the network, as the guard judged it: a DNS query, a connection,
/// one HTTP request on a connection, or packets the sandbox's firewall dropped. Immutable once
/// written: each stored record commits to the one before it (`AuditChain`).
public struct AuditRecord: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// A query to the sandbox's resolver.
        case dns
        /// A TCP connection: written when it closes (or is refused), with its byte counts.
        case connection
        /// One HTTP request on a plain-HTTP connection (every request is judged, R22).
        case request
        /// Packets that cannot leave (UDP other than DNS, ICMP, other protocols), counted.
        case packet
        /// The guard itself: a limit reached, records merged or dropped, the store failing.
        case guardEvent = "guard"
        /// An exfiltration detection rule fired (DETECTION.md): the rule, its severity, the
        /// evidence (redacted) and the action taken, linked to its connection or query.
        case flag
        /// Someone read other people's records (an auditor's or admin's query, R25), or the
        /// log itself changed (a retention purge): who, what and how many.
        case access
    }

    /// Milliseconds since the Unix epoch.
    public var time: Int64
    public var runID: String
    /// The background agent, when the run belongs to one.
    public var agentID: String
    /// The uid that started the run: who may read the record (R25).
    public var owner: UInt32
    public var kind: Kind
    /// tcp, udp, icmp, icmpv6, …
    public var proto: String
    /// The destination the sandbox asked for (original destination address).
    public var address: String
    public var port: Int
    /// The name: the DNS query name, TLS SNI or HTTP Host ("" when none).
    public var name: String
    /// Where the name came from: query, sni, host, dns-cache, or "".
    public var nameSource: String
    public var method: String
    /// Path with query values removed (R25).
    public var path: String
    public var bytesUp: Int64
    public var bytesDown: Int64
    public var durationMilliseconds: Int64
    public var allowed: Bool
    /// The rule that decided (a policy rule id or a built-in rule name).
    public var rule: String
    /// The decision's sentence.
    public var reason: String
    /// Detection flags, comma-separated names (empty: none).
    public var flags: String
    /// Identical records merged into this one (R19): 1 for a single event.
    public var count: Int64
    /// Anything else worth keeping: DNS answers and type, TLS ALPN, the drop's protocol.
    public var detail: String

    public init(time: Int64, runID: String, agentID: String = "", owner: UInt32, kind: Kind, proto: String, address: String = "",
                port: Int = 0, name: String = "", nameSource: String = "", method: String = "", path: String = "",
                bytesUp: Int64 = 0, bytesDown: Int64 = 0, durationMilliseconds: Int64 = 0, allowed: Bool, rule: String,
                reason: String, flags: String = "", count: Int64 = 1, detail: String = "") {
        self.time = time
        self.runID = runID
        self.agentID = agentID
        self.owner = owner
        self.kind = kind
        self.proto = proto
        self.address = address
        self.port = port
        self.name = name
        self.nameSource = nameSource
        self.method = method
        self.path = path
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.durationMilliseconds = durationMilliseconds
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
        self.flags = flags
        self.count = count
        self.detail = detail
    }

    public var decisionText: String { allowed ? "allow" : "deny" }
}

/// A record as stored: its position in the chain and its hash.
public struct StoredAuditRecord: Sendable, Equatable, Codable {
    public var sequence: Int64
    public var record: AuditRecord
    /// Hex SHA-256 of the previous record's hash and this record's fields.
    public var hash: String

    public init(sequence: Int64, record: AuditRecord, hash: String) {
        self.sequence = sequence
        self.record = record
        self.hash = hash
    }
}
