/// Where something is in a source file: 1-based line and column (columns count characters).
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// A JSON value as written, with where it starts, so that every later complaint about it
/// (a wrong type, an unknown key, a bad port) can name the exact place.
public struct JSONCNode: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// Members in the order written (duplicates are refused by the parser).
        case object([Member])
        case array([JSONCNode])
        case string(String)
        /// The number's text as written; readers convert it (an integer where one is needed).
        case number(String)
        case bool(Bool)
        case null
    }

    public struct Member: Sendable, Equatable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: JSONCNode
    }

    public var value: Value
    public var location: SourceLocation

    /// "an object", "a string", … for messages.
    public var kindName: String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "true or false"
        case .null: return "null"
        }
    }
}
