/// Where audit records live. Appends are atomic per batch and chained; several processes
/// may append to one store at once (each `warden run`, the supervisor), serialised by the
/// store's own lock. A protocol so a fleet can later share a server-side store.
public protocol AuditStore: AnyObject {
    /// Appends `records` in order as one transaction; returns the last sequence number.
    @discardableResult
    func append(_ records: [AuditRecord]) throws(StoreError) -> Int64
    func records(_ query: AuditQuery) throws(StoreError) -> [StoredAuditRecord]
    func verify() throws(StoreError) -> AuditVerification
    func summary(runID: String) throws(StoreError) -> [AuditDestinationSummary]
}
