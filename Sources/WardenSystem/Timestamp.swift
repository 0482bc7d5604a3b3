import Glibc

/// UTC timestamps as people and logs read them (RFC 3339): 2026-11-21T23:20:37Z, or with
/// milliseconds, 2026-11-21T23:20:37.042Z.
public enum Timestamp {
    public static func text(_ seconds: Int64, milliseconds: Int32? = nil) -> String {
        var value = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&value, &parts) != nil else { return "\(seconds)" }
        func pad(_ number: Int32, _ width: Int) -> String {
            let text = String(number)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let fraction = milliseconds.map { "." + pad($0, 3) } ?? ""
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))\(fraction)Z"
    }
}
