/// Which audit records to read: every filter is optional and they combine with AND.
public struct AuditQuery: Sendable, Equatable {
    public var runID: String?
    public var agentID: String?
    /// Only records at or after this time (ms since the epoch).
    public var since: Int64?
    /// Only allowed (true) or refused (false) records.
    public var allowed: Bool?
    /// Only detection flags (records of kind `flag`; the connection or query each is linked
    /// to carries the rule in its own flags column).
    public var flaggedOnly = false
    /// Only records of runs started by this uid (a member reads only their own, R25).
    public var owner: UInt32?
    /// At most this many, the newest (nil: all, oldest first).
    public var limit: Int?
    /// Paging, oldest first: only records after this sequence number, at most `pageSize`.
    public var after: Int64?
    public var pageSize: Int?

    public init(runID: String? = nil, agentID: String? = nil, since: Int64? = nil, allowed: Bool? = nil,
                flaggedOnly: Bool = false, owner: UInt32? = nil, limit: Int? = nil, after: Int64? = nil, pageSize: Int? = nil) {
        self.after = after
        self.pageSize = pageSize
        self.runID = runID
        self.agentID = agentID
        self.since = since
        self.allowed = allowed
        self.flaggedOnly = flaggedOnly
        self.owner = owner
        self.limit = limit
    }
}

/// What `warden audit verify` found.
public struct AuditVerification: Sendable, Equatable {
    public var checked: Int64
    /// The first record whose hash does not follow from the one before it; nil: intact.
    public var firstBad: Int64?
    public var problem: String?
    /// The hash of the last record checked: the chain head, to keep elsewhere.
    public var head: String
    /// Keyed checkpoints found, and whether they were checked (the audit key was at hand).
    public var checkpoints = 0
    public var keyed = false

    public init(checked: Int64, firstBad: Int64?, problem: String?, head: String) {
        self.checked = checked
        self.firstBad = firstBad
        self.problem = problem
        self.head = head
    }
}

/// One destination in `warden audit summary`.
public struct AuditDestinationSummary: Sendable, Equatable, Codable {
    public var destination: String
    public var port: Int
    public var proto: String
    public var events: Int64
    public var allowed: Int64
    public var denied: Int64
    public var bytesUp: Int64
    public var bytesDown: Int64
}

/// What a retention purge removed: records `first`…`last`.
public struct AuditPurge: Sendable, Equatable {
    public var first: Int64
    public var last: Int64
    public var count: Int64

    public init(first: Int64, last: Int64, count: Int64) {
        self.first = first
        self.last = last
        self.count = count
    }
}
