/// Replaces known secret values in captured output (agent logs, install output) with
/// `[redacted:NAME]` (R18). Works on bytes, so a value split across two chunks of a stream is
/// still caught: `redact` keeps back the tail that could be the start of a value until more
/// arrives or `finish` is called.
public struct SecretRedactor: Sendable {
    private let secrets: [(name: String, value: [UInt8])]
    private let longest: Int
    private var pending: [UInt8] = []

    /// Values shorter than `minimumLength` are not redacted: replacing every "1" or "yes" would
    /// garble the log and protect nothing.
    public init(_ values: [String: String], minimumLength: Int = 6) {
        secrets = values.filter { $0.value.utf8.count >= minimumLength }
            .map { (name: $0.key, value: Array($0.value.utf8)) }
            .sorted { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.name < $1.name }
        longest = secrets.first?.value.count ?? 0
    }

    /// The redacted bytes that are safe to emit now.
    public mutating func redact(_ chunk: [UInt8]) -> [UInt8] {
        guard longest > 0 else { return chunk }
        pending += chunk
        let (output, consumed) = scan(pending, final: false)
        pending.removeFirst(consumed)
        return output
    }

    /// Everything still held back, redacted.
    public mutating func finish() -> [UInt8] {
        let (output, _) = scan(pending, final: true)
        pending = []
        return output
    }

    /// Redacts a whole text at once.
    public static func redact(_ text: String, _ values: [String: String]) -> String {
        var redactor = SecretRedactor(values)
        return String(decoding: redactor.redact(Array(text.utf8)) + redactor.finish(), as: UTF8.self)
    }

    private func scan(_ bytes: [UInt8], final: Bool) -> ([UInt8], Int) {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        // Unless final, the last longest-1 bytes may begin a value still arriving.
        let limit = final ? bytes.count : max(0, bytes.count - (longest - 1))
        while index < limit {
            if let match = secrets.first(where: { bytes.count - index >= $0.value.count && bytes[index..<(index + $0.value.count)].elementsEqual($0.value) }) {
                output += Array("[redacted:\(match.name)]".utf8)
                index += match.value.count
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return (output, index)
    }
}
