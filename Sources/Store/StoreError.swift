import Policy

/// The store's one error type: a code, a one-line message naming the step, and SQLite's own
/// result code when it came from SQLite.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The database cannot be opened, read or written.
        case unavailable
        /// The file is not a Warden store, or its contents do not decode.
        case corrupt
        /// Another writer committed first; nothing was written.
        case conflict
        /// The store was written by a newer Warden.
        case newerSchema
        /// The store has an older schema and must be upgraded by a writer first.
        case outdated
        case notFound
        /// The policy refuses the caller this change or option; `decision` says by which rule.
        case refused
        /// The change itself is invalid (bad value, unknown key or user); `message` says what.
        case invalid
    }

    public var code: Code
    public var message: String
    public var sqliteCode: Int32?
    /// For `refused`: the decision, with its rule and reason.
    public var decision: Decision?

    public init(_ code: Code, _ message: String, sqliteCode: Int32? = nil, decision: Decision? = nil) {
        self.code = code
        self.message = message
        self.sqliteCode = sqliteCode
        self.decision = decision
    }

    public var description: String { message }
}
