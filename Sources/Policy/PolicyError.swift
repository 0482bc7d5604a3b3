/// The Policy module's one error type: a code scripts can branch on, a one-line message a
/// person can act on, and where in a policy file the problem is when it came from one.
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A value has the wrong shape (bad domain, CIDR, duration, unknown enum value).
        case invalidValue
        /// A key that the schema does not know.
        case unknownKey
        /// A rule or setting that is well-formed but not allowed (too-broad wildcard, unknown user).
        case refused
        /// Something that was asked for does not exist (user, rule, version).
        case notFound
    }

    public var code: Code
    public var message: String
    /// The setting or document path the message is about ("network.rules[3].domain").
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String { path.map { "\($0): \(message)" } ?? message }
}
