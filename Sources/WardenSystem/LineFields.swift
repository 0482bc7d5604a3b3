/// Byte-level splitting of small system files (/proc/self/mountinfo, /etc/passwd,
/// /proc/self/cgroup) into lines and fields.
///
/// Why not String.split: on the launch path every generic String operation costs runtime
/// metadata work; splitting mountinfo with a string separator alone took about a millisecond.
/// These files are ASCII; bytes are enough.
public struct LineFields {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Calls `body` with the fields of each line, split on `separator` (empty fields kept).
    /// Return false from `body` to stop.
    public func forEachLine(separator: UInt8, _ body: ([ArraySlice<UInt8>]) -> Bool) {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0a { end += 1 }
            var fields: [ArraySlice<UInt8>] = []
            var fieldStart = start
            for index in start..<end where bytes[index] == separator {
                fields.append(bytes[fieldStart..<index])
                fieldStart = index + 1
            }
            fields.append(bytes[fieldStart..<end])
            if !body(fields) { return }
            start = end + 1
        }
    }

    public static func string(_ slice: ArraySlice<UInt8>) -> String {
        String(decoding: slice, as: UTF8.self)
    }

    public static func equals(_ slice: ArraySlice<UInt8>, _ text: StaticString) -> Bool {
        guard slice.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { buffer in zip(slice, buffer).allSatisfy { $0 == $1 } }
    }

    /// True when the comma-separated list in `slice` contains `item`.
    public static func listContains(_ slice: ArraySlice<UInt8>, _ item: String) -> Bool {
        let wanted = Array(item.utf8)
        var start = slice.startIndex
        for index in slice.startIndex...slice.endIndex where index == slice.endIndex || slice[index] == UInt8(ascii: ",") {
            if index - start == wanted.count && slice[start..<index].elementsEqual(wanted) { return true }
            start = index + 1
        }
        return false
    }

    public static func number(_ slice: ArraySlice<UInt8>) -> UInt64? {
        guard !slice.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in slice {
            guard (0x30...0x39).contains(byte) else { return nil }
            let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(UInt64(byte - 0x30))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }
}
