/// Warden's exit statuses. A run exits with the command's own status (128+N when a signal N
/// killed it); Warden's own failures use these distinct codes, each with a one-line reason on
/// standard error naming the failing step.
public enum WardenExitCode {
    /// Building the sandbox failed at a named step.
    public static let setupFailed: Int32 = 120
    /// A requested isolation layer cannot engage here and was not explicitly given up
    /// (`--allow-degraded`). `warden doctor` says how to fix it.
    public static let layerUnavailable: Int32 = 121
    /// A bug in Warden.
    public static let internalError: Int32 = 122
    /// The organisation's policy refuses what was asked (a weakening option this user is not
    /// granted); the message names the rule. The refusal is recorded. Nothing ran.
    public static let refusedByPolicy: Int32 = 123
    /// The run exceeded `--timeout`; the whole sandbox was killed.
    public static let timeout: Int32 = 124
    /// Invalid usage or input (unknown option, missing workspace, malformed profile). Nothing ran.
    public static let invalidInput: Int32 = 125
    /// The command exists but cannot be executed.
    public static let commandNotExecutable: Int32 = 126
    /// The command was not found inside the sandbox.
    public static let commandNotFound: Int32 = 127

    public static func code(for error: SandboxError) -> Int32 {
        switch error.code {
        case .invalidInput: return invalidInput
        case .layerUnavailable: return layerUnavailable
        case .setupFailed: return setupFailed
        case .commandNotFound: return commandNotFound
        case .commandNotExecutable: return commandNotExecutable
        case .internalError: return internalError
        }
    }

    /// Text for `--help`.
    public static let summary = """
        EXIT STATUS
          The command's own exit status; 128+N when signal N killed it (137: SIGKILL, e.g. the
          memory limit). Warden's own failures:
            120  sandbox setup failed (the message names the step)
            121  a required isolation layer is unavailable (see `warden doctor`)
            122  internal error
            123  refused by the organisation's policy (the message names the rule; recorded)
            124  the run exceeded --timeout and was killed
            125  invalid usage or input; nothing ran
            126  the command cannot be executed
            127  the command was not found in the sandbox
        """
}
