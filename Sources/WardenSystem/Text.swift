/// Text helpers shared by commands.

/// Removes terminal control sequences and control characters from text that came from a
/// sandbox before Warden prints it (R13): no OSC 52 clipboard writes, no title reports, no
/// cursor games. C0 and C1 controls (U+0080–U+009F, which terminals honour as 8-bit controls)
/// are dropped; tabs and newlines survive.
public func stripTerminalControls(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    var scalars = text.unicodeScalars.makeIterator()
    while let scalar = scalars.next() {
        let value = scalar.value
        if value == 0x1b {
            // ESC: skip the whole sequence (CSI … final, OSC/DCS/APC/PM/SOS … BEL or ST, or one more character).
            guard let kind = scalars.next() else { break }
            switch kind {
            case "[":
                while let next = scalars.next(), !(0x40...0x7e).contains(next.value) {}
            case "]", "P", "_", "^", "X":
                var previousWasEscape = false
                while let next = scalars.next() {
                    if next.value == 0x07 || (previousWasEscape && next == "\\") { break }
                    previousWasEscape = next.value == 0x1b
                }
            case "%", "(", ")", "*", "+", "#":
                _ = scalars.next()
            default:
                break
            }
            continue
        }
        if value == 0x09 || value == 0x0a { out.append(scalar); continue }
        if value < 0x20 || (0x7f...0x9f).contains(value) { continue }
        out.append(scalar)
    }
    return String(out)
}

/// Writes a line to standard error, without terminal control sequences (R13): Warden's
/// messages can carry names taken from the sandbox (files in the workspace, commands).
public func printError(_ line: String) {
    var text = stripTerminalControls(line)
    if !text.hasSuffix("\n") { text += "\n" }
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

import Glibc

extension String {
    /// The string without leading and trailing whitespace (FoundationEssentials-free).
    public func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}

/// A POSIX environment variable name: letters, digits and `_`, not starting with a digit.
public func isEnvironmentVariableName(_ name: String) -> Bool {
    guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
    return name.utf8.allSatisfy { byte in
        byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
