import FoundationEssentials
import Policy
import Store
import WardenSystem

/// `warden audit` for callers other than root, answered by the supervisor, which alone can open
/// the log (R25): a member reads only the records of their own runs and agents; auditors and
/// admins read all, and every read that returns other people's records is itself recorded in
/// the log before anything is sent (no record, no read). Records travel as JSON, a page at a
/// time (`after`, `next`), so no answer outgrows the socket's frame.
public struct AuditReadService: Sendable {
    public let home: String
    static let pageSize = 1000

    public init(home: String) {
        self.home = home
    }

    public func handle(_ request: SupervisorRequest, callerUID: UInt32) -> SupervisorResponse {
        let context: CallerPolicy
        do throws(SupervisorResponse.Failure) { context = try CallerPolicy.resolveUser(home: home, uid: callerUID) } catch { return error.response }
        let caller = context.caller
        let member = caller.role == .member
        let path = SQLiteAuditStore.path(home: home)
        guard Files.lstat(path) != nil else { return SupervisorResponse(output: "[]") }
        do throws(StoreError) {
            let store = try SQLiteAuditStore(path: path, readOnly: true, create: false)
            switch request.operation {
            case "audit.records":
                var query: AuditQuery
                do { query = try Self.query(request.arguments) } catch { return .failure(125, "warden: \(error.message)") }
                if member {
                    if let refusal = try refusal(store, context, run: query.runID, agent: query.agentID) { return refusal }
                    query.owner = callerUID
                }
                // The newest N (`--limit`) in one answer; everything else a page at a time.
                if let limit = query.limit { query.limit = min(limit, Self.pageSize) } else { query.pageSize = Self.pageSize }
                let records = try store.records(query)
                if let access = AuditAccess.readRecord(readerUID: callerUID, reader: caller.name, role: caller.role?.rawValue ?? "",
                                                       filters: AuditAccess.describe(query), records: records, now: wallMilliseconds()) {
                    do { try AuditAccess.record(access, home: home) } catch {
                        return .failure(122, "warden: the read cannot be recorded, so nothing is shown: \(error.message)")
                    }
                }
                let next = query.pageSize != nil && records.count == Self.pageSize ? records.last.map { String($0.sequence) } : nil
                return SupervisorResponse(output: Self.json(records), info: next.map { ["next": $0] })
            case "audit.summary":
                guard let run = request.arguments["run"], !run.isEmpty else { return .failure(125, "warden: audit.summary needs a run") }
                if member, let refusal = try refusal(store, context, run: run, agent: nil) { return refusal }
                let rows = try store.summary(runID: run, owner: member ? callerUID : nil)
                let others = try store.owners(runID: run, agentID: nil).subtracting([callerUID])
                if !member, !others.isEmpty {
                    let access = AuditRecord(time: wallMilliseconds(), runID: "", owner: callerUID, kind: .access, proto: "", allowed: true, rule: "audit.read",
                                             reason: "\(caller.name) (\(caller.role?.rawValue ?? "")) read the per-destination summary of run \(run) (uids \(others.sorted().map(String.init).joined(separator: ",")))",
                                             detail: "filters=summary run=\(run)")
                    do { try AuditAccess.record(access, home: home) } catch {
                        return .failure(122, "warden: the read cannot be recorded, so nothing is shown: \(error.message)")
                    }
                }
                return SupervisorResponse(output: Self.json(rows))
            default:
                return .failure(125, "warden: unknown operation \(request.operation)")
            }
        } catch {
            return .failure(120, "warden: cannot read the audit log: \(error.message)")
        }
    }

    /// A member who names a run or agent holding other people's records is refused (and the
    /// refusal recorded) rather than shown a silently empty list.
    private func refusal(_ store: SQLiteAuditStore, _ context: CallerPolicy, run: String?, agent: String?) throws(StoreError) -> SupervisorResponse? {
        let owners = try store.owners(runID: run, agentID: agent)
        guard let other = owners.first(where: { $0 != context.caller.uid }) else { return nil }
        let owner = context.policy.users.first { $0.uid == other }?.name ?? "uid \(other)"
        let what = run.map { "run \($0)" } ?? agent.map { "agent \($0)" } ?? "these records"
        return context.record("audit read \(what)", context.evaluator.mayViewAudit(context.caller, recordOwner: owner))
    }

    /// The filters `warden audit` sends: each optional, checked.
    static func query(_ arguments: [String: String]) throws(PolicyError) -> AuditQuery {
        var query = AuditQuery(runID: arguments["run"], agentID: arguments["agent"], flaggedOnly: arguments["flagged"] == "true")
        func number(_ key: String) throws(PolicyError) -> Int64? {
            guard let text = arguments[key] else { return nil }
            guard let value = Int64(text), value >= 0 else { throw PolicyError(.invalidValue, "\(key) \(text.prefix(40)): expected a number") }
            return value
        }
        query.since = try number("since")
        query.after = try number("after")
        if let limit = try number("limit") { query.limit = Int(limit) }
        if let decision = arguments["decision"] {
            guard decision == "allow" || decision == "deny" else { throw PolicyError(.invalidValue, "decision \(decision.prefix(40)): expected allow or deny") }
            query.allowed = decision == "allow"
        }
        return query
    }

    static func json(_ value: some Encodable) -> String {
        (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }
}
