import WardenSystem

/// The network guard's one error type: what failed (a code), a one-line message naming the
/// step, and the system call's error when one caused it.
public struct GuardError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The sandbox's network namespace could not be set up (routes, firewall, sockets).
        case setupFailed
        /// A socket was not in the namespace it was made for (R21).
        case wrongNamespace
        /// The audit store cannot take records: egress must not start (R19).
        case auditUnavailable
        /// A configuration value is invalid (upstream resolver, rule).
        case invalid
    }

    public var code: Code
    public var message: String
    public var cause: SystemError?

    public init(_ code: Code, _ message: String, cause: SystemError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    static func setup(_ step: String, _ cause: SystemError) -> GuardError {
        GuardError(.setupFailed, "network guard: \(cause.description)", cause: cause)
    }

    public var description: String { message }
}
