/// Where audit records live. Appends are atomic per batch and chained; several processes
/// may append to one store at once (each `warden run`, the supervisor), serialised by the
/// store's own lock. A protocol so a fleet can later share a server-side store.
public protocol AuditStore: AnyObject {
    /// Appends `records` in order as one transaction; returns the last sequence number.
    @discardableResult
    func append(_ records: [AuditRecord]) throws(StoreError) -> Int64
    func records(_ query: AuditQuery) throws(StoreError) -> [StoredAuditRecord]
    func verify(head: AuditHead?) throws(StoreError) -> AuditVerification
    /// A keyed checkpoint of the head now (a writer's clean stop); nothing without the key.
    func checkpoint(reason: String) throws(StoreError)
    func summary(runID: String, owner: UInt32?) throws(StoreError) -> [AuditDestinationSummary]
}
