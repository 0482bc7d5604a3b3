import FoundationEssentials
import WardenSystem

/// One request to the supervisor: an operation, its named arguments, and an input (a secret's
/// value, a prompt) that travels only over the socket, never in anyone's argv.
public struct SupervisorRequest: Codable, Sendable, Equatable {
    public var version = 1
    public var operation: String
    public var arguments: [String: String]
    public var input: String?

    public init(operation: String, arguments: [String: String] = [:], input: String? = nil) {
        self.operation = operation
        self.arguments = arguments
        self.input = input
    }
}

/// The supervisor's answer: what the client prints on each stream and its exit status.
public struct SupervisorResponse: Codable, Sendable, Equatable {
    public var status: Int32
    public var output: String
    public var error: String
    /// Values a client acts on rather than prints (where `logs --follow` reads next).
    public var info: [String: String]?
    /// A descriptor that travels beside the answer (SCM_RIGHTS), never in it: the master of an
    /// attached terminal, a connection to a forwarded port.
    public var descriptor: PassedDescriptor?

    private enum CodingKeys: String, CodingKey {
        case status, output, error, info
    }

    public init(status: Int32 = 0, output: String = "", error: String = "", info: [String: String]? = nil,
                descriptor: PassedDescriptor? = nil) {
        self.status = status
        self.output = output
        self.error = error
        self.info = info
        self.descriptor = descriptor
    }

    /// A refusal or bad input: one line, a non-zero status.
    public static func failure(_ status: Int32, _ message: String) -> SupervisorResponse {
        SupervisorResponse(status: status, error: message.hasSuffix("\n") ? message : message + "\n")
    }
}

/// A descriptor handed from one process to another with a supervisor answer. Compared by
/// identity: two answers carrying descriptors are never the same answer.
public final class PassedDescriptor: @unchecked Sendable, Equatable {
    // Safe: created by one thread and handed over whole; the receiver owns it from then on.
    public let descriptor: FileDescriptor

    public init(_ descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    public static func == (lhs: PassedDescriptor, rhs: PassedDescriptor) -> Bool { lhs === rhs }
}

/// Messages are one JSON document per line, at most `maxBytes`.
enum SupervisorFraming {
    static let maxBytes = 1 << 20

    static func encode<T: Encodable>(_ value: T) -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else { return nil }
        return Array(data) + [0x0A]
    }

    static func decode<T: Decodable>(_ type: T.Type, _ line: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(line))
    }
}
