/// A comparison on one syscall argument, with libseccomp's (and the kernel's) 64-bit semantics.
/// For `maskedEqual`, `value` is the mask and `valueTwo` the expected value, as in OCI profiles.
public struct ArgumentCondition: Sendable, Hashable, CustomStringConvertible {
    public enum Operator: String, Sendable, Hashable {
        case notEqual = "SCMP_CMP_NE"
        case lessThan = "SCMP_CMP_LT"
        case lessOrEqual = "SCMP_CMP_LE"
        case equal = "SCMP_CMP_EQ"
        case greaterOrEqual = "SCMP_CMP_GE"
        case greaterThan = "SCMP_CMP_GT"
        case maskedEqual = "SCMP_CMP_MASKED_EQ"

        init?(ociName: String) { self.init(rawValue: ociName) }
    }

    public let index: Int
    public let op: Operator
    public let value: UInt64
    public let valueTwo: UInt64

    public init(index: Int, op: Operator, value: UInt64, valueTwo: UInt64 = 0) {
        self.index = index
        self.op = op
        self.value = value
        self.valueTwo = valueTwo
    }

    /// `arg & mask == expected`.
    public static func masked(_ index: Int, mask: UInt64, equals expected: UInt64) -> ArgumentCondition {
        ArgumentCondition(index: index, op: .maskedEqual, value: mask, valueTwo: expected)
    }

    /// Equality on the low 32 bits only, for arguments the kernel reads as `int` (a bare 64-bit
    /// comparison is bypassed by setting the upper bits, CVE-2019-10063).
    public static func equal32(_ index: Int, _ value: UInt32) -> ArgumentCondition {
        masked(index, mask: 0xffff_ffff, equals: UInt64(value))
    }

    public func matches(_ args: [UInt64]) -> Bool {
        let x = args[index]
        switch op {
        case .notEqual: return x != value
        case .lessThan: return x < value
        case .lessOrEqual: return x <= value
        case .equal: return x == value
        case .greaterOrEqual: return x >= value
        case .greaterThan: return x > value
        case .maskedEqual: return x & value == valueTwo
        }
    }

    public var description: String {
        switch op {
        case .maskedEqual: return "a\(index) & 0x\(String(value, radix: 16)) == 0x\(String(valueTwo, radix: 16))"
        case .notEqual: return "a\(index) != \(value)"
        case .lessThan: return "a\(index) < \(value)"
        case .lessOrEqual: return "a\(index) <= \(value)"
        case .equal: return "a\(index) == \(value)"
        case .greaterOrEqual: return "a\(index) >= \(value)"
        case .greaterThan: return "a\(index) > \(value)"
        }
    }
}
