/// One finding of `warden doctor`.
public struct DoctorCheck: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case ok
        /// Works, with a limitation worth knowing.
        case warning
        /// A layer cannot engage: runs that need it are refused (fail closed).
        case failure
    }

    public let name: String
    public let status: Status
    public let detail: String
    /// The exact fix, for warnings and failures.
    public let fix: String?

    public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}
