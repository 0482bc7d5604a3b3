import WardenSystem

/// A record as JSON (`warden audit export`, `--json`, the JSON Lines stream): times in RFC 3339,
/// flags as a list, the decision as allow or deny.
public struct AuditJSON: Encodable, Sendable {
    public var sequence: Int64
    public var time: String
    public var runID: String
    public var agentID: String
    public var owner: UInt32
    public var kind: String
    public var proto: String
    public var address: String
    public var port: Int
    public var name: String
    public var nameSource: String
    public var method: String
    public var path: String
    public var bytesUp: Int64
    public var bytesDown: Int64
    public var durationMilliseconds: Int64
    public var decision: String
    public var rule: String
    public var reason: String
    public var flags: [String]
    public var count: Int64
    public var detail: String
    public var hash: String

    public init(_ stored: StoredAuditRecord) {
        let r = stored.record
        sequence = stored.sequence
        time = Timestamp.text(r.time / 1000, milliseconds: Int32(r.time % 1000))
        runID = r.runID
        agentID = r.agentID
        owner = r.owner
        kind = r.kind.rawValue
        proto = r.proto
        address = r.address
        port = r.port
        name = r.name
        nameSource = r.nameSource
        method = r.method
        path = r.path
        bytesUp = r.bytesUp
        bytesDown = r.bytesDown
        durationMilliseconds = r.durationMilliseconds
        decision = r.decisionText
        rule = r.rule
        reason = r.reason
        flags = r.flags.isEmpty ? [] : r.flags.split(separator: ",").map(String.init)
        count = r.count
        detail = r.detail
        hash = stored.hash
    }
}
