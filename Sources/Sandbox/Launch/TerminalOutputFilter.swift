/// Filters what the sandbox writes to its terminal before the relay copies it to the caller's
/// terminal (R12, R13).
///
/// An interactive program needs colours, cursor movement and titles, so sequences pass — except
/// those that act outside the sandbox or make the caller's terminal answer: OSC 52 (writes the
/// clipboard), OSC queries (`?`), CSI … t (window operations and title or size reports), DCS,
/// APC, PM and SOS strings (device queries, terminal-specific commands), `ESC %` (leaving UTF-8,
/// which would turn bytes 0x80–0x9f into controls), and C1 controls themselves (raw or UTF-8
/// encoded U+0080–U+009F). The filter follows the byte stream as a terminal parses it — an ESC,
/// CAN or SUB inside a sequence aborts it — so a sequence split across reads, or nested inside
/// another, is judged the way the terminal will see it.
public struct TerminalOutputFilter: Sendable {
    enum State: Sendable {
        case text
        case escape
        case charsetSwitch      // ESC %: the next byte is dropped with it
        case csi
        case osc
        case oscEscape
        case string             // DCS / APC / PM / SOS: dropped until ST
        case stringEscape
    }

    private var state = State.text
    private var pending: [UInt8] = []
    /// A UTF-8 lead byte 0xC2 held back until the next byte shows whether it encodes a C1 control.
    private var heldC2 = false
    /// Continuation bytes still expected by the current UTF-8 sequence.
    private var continuations = 0

    /// Sequences longer than this are dropped (no legitimate one comes close).
    static let maximumSequence = 4096
    /// OSC commands that only set state in the caller's terminal: titles, colours, hyperlinks.
    static let allowedOSC: Set<Int> = [0, 1, 2, 4, 8, 10, 11, 12, 104, 110, 111, 112]

    public init() {}

    /// Returns the bytes of `input` that may reach the caller's terminal.
    public mutating func filter(_ input: some Sequence<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        for byte in input { step(byte, &output) }
        return output
    }

    private mutating func step(_ byte: UInt8, _ output: inout [UInt8]) {
        // CAN and SUB abort any sequence; ESC inside a sequence starts a new one.
        if state != .text && state != .string && state != .stringEscape && (byte == 0x18 || byte == 0x1a) {
            reset()
            return
        }
        switch state {
        case .text:
            text(byte, &output)
        case .escape:
            switch byte {
            case UInt8(ascii: "["): state = .csi; pending.append(byte)
            case UInt8(ascii: "]"): state = .osc; pending.append(byte)
            case UInt8(ascii: "P"), UInt8(ascii: "_"), UInt8(ascii: "^"), UInt8(ascii: "X"): state = .string; pending = []
            case UInt8(ascii: "%"): state = .charsetSwitch; pending = []
            case 0x1b: pending = [byte]
            case 0x20...0x7e: output += pending + [byte]; reset()
            default: reset()  // a control or 8-bit byte after ESC: drop the pair
            }
        case .charsetSwitch:
            reset()
        case .csi:
            switch byte {
            case 0x1b:
                state = .escape
                pending = [byte]
            case 0x20...0x3f:
                pending.append(byte)
                if pending.count > Self.maximumSequence { reset() }
            case 0x40...0x7e:
                // Final byte: `t` is window manipulation, including title and size reports.
                if byte != UInt8(ascii: "t") { output += pending + [byte] }
                reset()
            default:
                reset()  // a control or 8-bit byte inside a CSI: drop the sequence
            }
        case .osc:
            if byte == 0x07 {
                if allowOSC() { output += pending + [byte] }
                reset()
            } else if byte == 0x1b {
                state = .oscEscape
            } else if byte < 0x20 {
                reset()
            } else {
                pending.append(byte)
                if pending.count > Self.maximumSequence { state = .string; pending = [] }
            }
        case .oscEscape:
            if byte == UInt8(ascii: "\\") {
                if allowOSC() { output += pending + [0x1b, byte] }
                reset()
            } else {
                // An unterminated OSC interrupted by another escape: drop it, start over.
                reset()
                state = .escape
                pending = [0x1b]
                step(byte, &output)
            }
        case .string:
            if byte == 0x1b { state = .stringEscape } else if byte == 0x07 { reset() }
        case .stringEscape:
            if byte == UInt8(ascii: "\\") { reset() } else { state = .string }
        }
    }

    /// Plain text: passes, except C1 controls (raw, or as UTF-8 C2 80–C2 9F).
    private mutating func text(_ byte: UInt8, _ output: inout [UInt8]) {
        if heldC2 {
            heldC2 = false
            if (0x80...0x9f).contains(byte) { return }  // U+0080–U+009F: drop both bytes
            output.append(0xc2)
            if (0x80...0xbf).contains(byte) {
                output.append(byte)
                return
            }
        }
        switch byte {
        case 0x1b:
            continuations = 0
            state = .escape
            pending = [byte]
        case 0xc2:
            continuations = 0
            heldC2 = true
        case 0x80...0xbf:
            if continuations > 0 {
                continuations -= 1
                output.append(byte)
            } else if byte >= 0xa0 {
                output.append(byte)  // a stray continuation byte is not a control
            }  // a stray 0x80–0x9f would be a raw C1 control: dropped
        case 0xc3...0xdf:
            continuations = 1
            output.append(byte)
        case 0xe0...0xef:
            continuations = 2
            output.append(byte)
        case 0xf0...0xf4:
            continuations = 3
            output.append(byte)
        default:
            continuations = 0
            output.append(byte)
        }
    }

    private mutating func reset() {
        state = .text
        pending = []
    }

    /// `pending` is ESC ] Ps ; Pt (without terminator).
    private func allowOSC() -> Bool {
        let body = pending.dropFirst(2)
        let number = body.prefix { (0x30...0x39).contains($0) }
        guard !number.isEmpty, let command = Int(String(decoding: number, as: UTF8.self)), Self.allowedOSC.contains(command) else {
            return false
        }
        // A `?` asks the terminal to answer (colour queries); hyperlinks (8) carry URLs with `?`.
        return command == 8 || !body.contains(UInt8(ascii: "?"))
    }
}
