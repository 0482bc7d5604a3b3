/// Text helpers shared by commands.

/// Removes terminal control sequences and control characters from text that came from a
/// sandbox before Warden prints it (R13): no OSC 52 clipboard writes, no title reports, no
/// cursor games. Tabs and newlines survive.
public func stripTerminalControls(_ text: String) -> String {
    var out: [UInt8] = []
    let bytes = Array(text.utf8)
    var i = 0
    while i < bytes.count {
        let byte = bytes[i]
        if byte == 0x1b {
            // ESC: skip the whole sequence (CSI ... final, OSC ... BEL/ST, or ESC + one byte).
            i += 1
            guard i < bytes.count else { break }
            let kind = bytes[i]
            i += 1
            if kind == UInt8(ascii: "[") {
                while i < bytes.count && !(0x40...0x7e).contains(bytes[i]) { i += 1 }
                i += 1
            } else if kind == UInt8(ascii: "]") || kind == UInt8(ascii: "P") || kind == UInt8(ascii: "_") || kind == UInt8(ascii: "^") {
                while i < bytes.count {
                    if bytes[i] == 0x07 { i += 1; break }
                    if bytes[i] == 0x1b && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\\") { i += 2; break }
                    i += 1
                }
            }
            continue
        }
        if byte == 0x9b || (byte < 0x20 && byte != 0x09 && byte != 0x0a) || byte == 0x7f {
            i += 1
            continue
        }
        out.append(byte)
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
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
