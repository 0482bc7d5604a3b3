import WardenSystem

/// The one error type of the Sandbox module. `code` decides Warden's exit status; `message`
/// is the one line printed to the user; `cause` keeps the failing system call when there is one.
public struct SandboxError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Bad input: unknown option value, missing workspace, malformed profile. Nothing ran.
        case invalidInput = "invalid-input"
        /// A requested isolation layer cannot engage on this machine (fail closed).
        case layerUnavailable = "layer-unavailable"
        /// Building the sandbox failed at a named step.
        case setupFailed = "setup-failed"
        /// The command could not be started inside the sandbox.
        case commandNotFound = "command-not-found"
        case commandNotExecutable = "command-not-executable"
        /// A bug or an impossible state in Warden itself.
        case internalError = "internal-error"
    }

    public let code: Code
    public let message: String
    public let cause: SystemError?

    public init(_ code: Code, _ message: String, cause: SystemError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public static func invalid(_ message: String) -> SandboxError { SandboxError(.invalidInput, message) }

    public static func setup(_ step: String, _ error: SystemError) -> SandboxError {
        SandboxError(.setupFailed, "\(step): \(error.reason)", cause: error)
    }

    public var description: String { message }
}
