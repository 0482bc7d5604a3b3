import CTLS

/// OpenSSL reports failures on a per-thread queue: this reads (and empties) it into one line,
/// so that a refusal or a setup error says what OpenSSL said.
enum OpenSSLFailure {
    static func drain(_ context: String) -> String {
        var reasons: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        for _ in 0..<8 {
            let code = ERR_get_error()
            guard code != 0 else { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        ERR_clear_error()
        return reasons.isEmpty ? context : context + ": " + reasons.joined(separator: "; ")
    }
}
