/// A record as an OCSF 1.1 Network Activity event (class 4001), for SIEMs that ingest OCSF
/// (`--format ocsf`). The field mapping is documented in SECURITY.md ("Audit: OCSF mapping");
/// whatever OCSF has no place for goes to `unmapped`, so nothing of the record is lost.
public struct AuditOCSF: Encodable, Sendable {
    public struct Endpoint: Encodable, Sendable { var ip: String?; var port: Int?; var hostname: String? }
    public struct ConnectionInfo: Encodable, Sendable { var protocol_name: String; var direction_id = 2; var direction = "Outbound" }
    public struct Traffic: Encodable, Sendable { var bytes_out: Int64; var bytes_in: Int64 }
    public struct URL: Encodable, Sendable { var hostname: String?; var path: String }
    public struct HTTPRequest: Encodable, Sendable { var http_method: String; var url: URL }
    public struct Product: Encodable, Sendable { var name = "Warden"; var vendor_name = "Warden" }
    public struct Metadata: Encodable, Sendable {
        var version = "1.1.0"
        var product = Product()
        var uid: String
        var correlation_uid: String
        var log_name = "warden-audit"
    }
    public struct User: Encodable, Sendable { var uid: String }
    public struct Actor: Encodable, Sendable { var user: User }
    public struct Unmapped: Encodable, Sendable {
        var kind: String
        var rule: String
        var flags: [String]
        var detail: String
        var agent_id: String
        var name_source: String
        var hash: String
    }

    var category_uid = 4
    var category_name = "Network Activity"
    var class_uid = 4001
    var class_name = "Network Activity"
    var activity_id: Int
    var activity_name: String
    var type_uid: Int
    var time: Int64
    var severity_id: Int
    var action_id: Int
    var action: String
    var disposition_id: Int
    var disposition: String
    var message: String
    var count: Int64
    var duration: Int64
    var dst_endpoint: Endpoint
    var connection_info: ConnectionInfo
    var traffic: Traffic?
    var http_request: HTTPRequest?
    var actor: Actor
    var metadata: Metadata
    var unmapped: Unmapped

    public init(_ stored: StoredAuditRecord) {
        let r = stored.record
        (activity_id, activity_name) = switch (r.kind, r.allowed) {
        case (.connection, true): (2, "Close")
        case (.connection, false), (.packet, _): (5, "Refuse")
        case (.dns, _), (.request, _): (6, "Traffic")
        default: (99, "Other")
        }
        type_uid = 4001 * 100 + activity_id
        time = r.time
        severity_id = Self.severity(r)
        action_id = r.allowed ? 1 : 2
        action = r.allowed ? "Allowed" : "Denied"
        disposition_id = r.allowed ? 1 : 2
        disposition = r.allowed ? "Allowed" : "Blocked"
        message = r.reason
        count = r.count
        duration = r.durationMilliseconds
        dst_endpoint = Endpoint(ip: r.address.isEmpty ? nil : r.address, port: r.port > 0 ? r.port : nil, hostname: r.name.isEmpty ? nil : r.name)
        connection_info = ConnectionInfo(protocol_name: r.proto)
        traffic = r.kind == .connection ? Traffic(bytes_out: r.bytesUp, bytes_in: r.bytesDown) : nil
        http_request = r.method.isEmpty ? nil : HTTPRequest(http_method: r.method, url: URL(hostname: r.name.isEmpty ? nil : r.name, path: r.path))
        actor = Actor(user: User(uid: String(r.owner)))
        metadata = Metadata(uid: String(stored.sequence), correlation_uid: r.agentID.isEmpty ? r.runID : r.agentID)
        unmapped = Unmapped(kind: r.kind.rawValue, rule: r.rule, flags: r.flags.isEmpty ? [] : r.flags.split(separator: ",").map(String.init),
                            detail: r.detail, agent_id: r.agentID, name_source: r.nameSource, hash: stored.hash)
    }

    /// A flag's own severity (its detail starts `severity=…`); refusals are low, the rest informational.
    public static func severity(_ record: AuditRecord) -> Int {
        if record.kind == .flag, let value = record.detail.split(separator: ";").first?.split(separator: "=").last {
            switch value.trimmingCharacters(in: " ") {
            case "low": return 2
            case "medium": return 3
            case "high": return 4
            case "critical": return 5
            default: break
            }
        }
        return record.allowed ? 1 : 2
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var text = self
        while text.first == set { text.removeFirst() }
        while text.last == set { text.removeLast() }
        return text
    }
}
