/// Filters what the sandbox writes to its terminal before the relay copies it to the caller's
/// terminal (R12, R13).
///
/// An interactive program needs colours, cursor movement and titles, so sequences pass — except
/// those that act outside the sandbox or make the caller's terminal answer: OSC 52 (writes the
/// clipboard), OSC queries (`?`), CSI … t (window operations and title or size reports), and
/// DCS, APC, PM and SOS strings (device queries, terminal-specific commands). The filter is a
/// state machine over the byte stream, so a sequence split across reads is judged whole.
public struct TerminalOutputFilter: Sendable {
    enum State: Sendable {
        case text
        case escape
        case csi
        case osc
        case oscEscape
        case string          // DCS / APC / PM / SOS: dropped until ST
        case stringEscape
    }

    private var state = State.text
    private var pending: [UInt8] = []

    /// Sequences longer than this are dropped (no legitimate one comes close).
    static let maximumSequence = 4096
    /// OSC commands that only set state in the caller's terminal: titles, colours, hyperlinks.
    static let allowedOSC: Set<Int> = [0, 1, 2, 4, 8, 10, 11, 12, 104, 110, 111, 112]

    public init() {}

    /// Returns the bytes of `input` that may reach the caller's terminal.
    public mutating func filter(_ input: some Sequence<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        for byte in input {
            switch state {
            case .text:
                if byte == 0x1b { state = .escape; pending = [byte] } else { output.append(byte) }
            case .escape:
                pending.append(byte)
                switch byte {
                case UInt8(ascii: "["): state = .csi
                case UInt8(ascii: "]"): state = .osc
                case UInt8(ascii: "P"), UInt8(ascii: "_"), UInt8(ascii: "^"), UInt8(ascii: "X"): state = .string; pending = []
                case 0x1b: pending = [byte]  // ESC ESC: the first one is dropped
                default: output += pending; reset()
                }
            case .csi:
                pending.append(byte)
                if (0x40...0x7e).contains(byte) {
                    // Final byte: `t` is window manipulation, including title and size reports.
                    if byte != UInt8(ascii: "t") { output += pending }
                    reset()
                } else if pending.count > Self.maximumSequence {
                    reset()
                }
            case .osc:
                if byte == 0x07 {
                    if allowOSC() { output += pending + [byte] }
                    reset()
                } else if byte == 0x1b {
                    state = .oscEscape
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
                    state = .escape
                    pending = [0x1b]
                    output += filter([byte])
                }
            case .string:
                if byte == 0x1b { state = .stringEscape } else if byte == 0x07 { reset() }
            case .stringEscape:
                state = byte == UInt8(ascii: "\\") ? .text : .string
                if state == .text { pending = [] }
            }
        }
        return output
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
