/// The question of a DNS message, in the one text form the policy matches on, so that two
/// spellings of a name on the wire (case, escapes) can never reach the policy as two names.
public struct DNSQuestion: Sendable, Equatable {
    /// Lower-cased, no trailing dot, "." separated; a byte outside [a-z0-9-_] in a label is
    /// written \DDD (decimal, as in zone files) so the text is unambiguous: a "." inside a label
    /// can never pass for a label boundary. Root is "".
    public var name: String
    public var type: UInt16
    public var recordClass: UInt16
    /// Bytes of the name once uncompressed (length bytes, labels and the final zero: at most
    /// 255). For a name without compression pointers, as every query's is, this is its size on
    /// the wire. Kept so the guard can flag long names (tunnelling) without re-parsing.
    public var wireLength: Int

    public init(name: String, type: UInt16, recordClass: UInt16 = 1, wireLength: Int) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.wireLength = wireLength
    }
}

/// A query as the sandbox sent it: what the guard needs to judge it and to answer it itself.
public struct DNSQuery: Sendable, Equatable {
    public var id: UInt16
    public var opcode: UInt8
    public var recursionDesired: Bool
    public var question: DNSQuestion
    /// An OPT record in the additional section: the client accepts UDP answers over 512 bytes.
    public var hasEDNS: Bool

    public init(id: UInt16, opcode: UInt8 = 0, recursionDesired: Bool = true, question: DNSQuestion, hasEDNS: Bool = false) {
        self.id = id
        self.opcode = opcode
        self.recursionDesired = recursionDesired
        self.question = question
        self.hasEDNS = hasEDNS
    }
}

/// A query, or why it was refused: the reason goes to the audit record, so it names the rule.
public enum DNSQueryParse: Sendable, Equatable {
    case query(DNSQuery)
    case malformed(String)
}

/// One record of a response's answer section, reduced to what the guard keeps: the addresses a
/// name resolved to (rebinding checks, later connections), the CNAME chain, and the sizes of
/// data that could carry a tunnel.
public struct DNSAnswer: Sendable, Equatable {
    public enum Data: Sendable, Equatable {
        /// 4 bytes.
        case a([UInt8])
        /// 16 bytes.
        case aaaa([UInt8])
        /// The target, in the same text form as `DNSQuestion.name`.
        case cname(String)
        /// RDLENGTH: the text itself is not kept, only how much of it there is.
        case txt(length: Int)
        /// Any other type: RDLENGTH.
        case other(length: Int)
    }

    /// The owner name, in the same text form as `DNSQuestion.name`.
    public var name: String
    public var type: UInt16
    /// Seconds. A TTL with the top bit set is read as 0, as RFC 2181 §8 asks, so a hostile
    /// upstream cannot make the guard remember an address for 68 years.
    public var ttl: UInt32
    public var data: Data

    public init(name: String, type: UInt16, ttl: UInt32, data: Data) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.data = data
    }
}

/// An upstream's response, reduced to what the guard reads from it before relaying it.
public struct DNSResponse: Sendable, Equatable {
    public var id: UInt16
    /// The header's 4-bit RCODE (an OPT record's extended bits are not folded in).
    public var rcode: UInt8
    /// TC: the answer did not fit; the client is expected to retry over TCP.
    public var truncated: Bool
    /// nil when QDCOUNT is 0 (some servers send no question with an error).
    public var question: DNSQuestion?
    /// The answer section only: authority and additional records are checked, not kept.
    public var answers: [DNSAnswer]
    /// Bytes in the message.
    public var length: Int

    public init(id: UInt16, rcode: UInt8, truncated: Bool, question: DNSQuestion?, answers: [DNSAnswer], length: Int) {
        self.id = id
        self.rcode = rcode
        self.truncated = truncated
        self.question = question
        self.answers = answers
        self.length = length
    }
}

/// The record types the guard names: the ones it reads, and the ones policies refuse by type.
public enum DNSRecordType {
    public static let a: UInt16 = 1
    public static let ns: UInt16 = 2
    public static let cname: UInt16 = 5
    public static let null: UInt16 = 10
    public static let txt: UInt16 = 16
    public static let aaaa: UInt16 = 28
    public static let opt: UInt16 = 41
    public static let any: UInt16 = 255
}

/// The RCODEs the guard sends or reads.
public enum DNSResponseCode {
    public static let noError: UInt8 = 0
    public static let formatError: UInt8 = 1
    public static let serverFailure: UInt8 = 2
    public static let nameError: UInt8 = 3
    public static let notImplemented: UInt8 = 4
    public static let refused: UInt8 = 5
}
