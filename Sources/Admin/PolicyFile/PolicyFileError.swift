import Policy

/// A problem in a policy file: where (file, line, the setting's path) and what is expected.
public struct PolicyFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var path: String?
    public var message: String

    public init(file: String, line: Int?, path: String?, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return "\(location): \(path.map { "\($0): " } ?? "")\(message)"
    }
}
