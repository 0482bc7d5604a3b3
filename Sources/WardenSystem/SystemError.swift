import Glibc

/// A failed system call: the errno it returned and the step that made it, so that every error
/// Warden prints names exactly what failed ("open_tree(/usr): Permission denied").
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public let errno: Int32
    public let step: String

    public init(errno: Int32, step: String) {
        self.errno = errno
        self.step = step
    }

    /// Captures the calling thread's errno right after a failed call.
    public static func current(_ step: String) -> SystemError {
        SystemError(errno: Glibc.errno, step: step)
    }

    public var reason: String { errnoDescription(errno) }
    public var description: String { "\(step): \(reason)" }
}

/// strerror(3) as a Swift string.
public func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// Runs a call that returns -1 and sets errno on failure, retrying on EINTR.
@discardableResult
public func check(_ step: @autoclosure () -> String, _ call: () -> Int32) throws(SystemError) -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(errno: code, step: step())
    }
}

/// Same as `check` for calls returning ssize_t.
@discardableResult
public func checkSize(_ step: @autoclosure () -> String, _ call: () -> Int) throws(SystemError) -> Int {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(errno: code, step: step())
    }
}
