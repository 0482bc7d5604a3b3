extension ChunkedBodyScanner {
    private typealias Syntax = HTTPRequestParser.Syntax

    /// Moves the state machine over one framing byte; returns why the body is malformed, if it is.
    mutating func advance(_ byte: UInt8) -> String? {
        if byte == Syntax.lf, !expectsLF { return "bare LF in chunked body" }
        if byte != Syntax.cr, byte != Syntax.lf {
            lineLength += 1
            if lineLength > maxLineLength { return "chunked body line longer than \(maxLineLength) bytes" }
        }
        switch state {
        case .size(let digits, let value):
            return sizeByte(byte, digits: digits, value: value)
        case .chunkExtension(let value):
            if byte == Syntax.cr {
                state = .sizeLF(value: value)
            } else if Syntax.isControl(byte) && byte != Syntax.tab || byte > 0x7e {
                return "invalid byte 0x\(HTTPRequestParser.hex(byte)) in chunk extension"
            }
        case .sizeLF(let value):
            guard byte == Syntax.lf else { return "bare CR after chunk size" }
            lineLength = 0
            state = value == 0 ? .trailerLineStart : .data(remaining: value)
        case .dataCR:
            guard byte == Syntax.cr else { return "chunk data not followed by CRLF" }
            state = .dataLF
        case .dataLF:
            guard byte == Syntax.lf else { return "chunk data not followed by CRLF" }
            lineLength = 0
            state = .size(digits: 0, value: 0)
        case .trailerLineStart, .trailerName, .trailerValue, .trailerLF:
            return trailerByte(byte)
        case .data, .done, .failed:
            break
        }
        return nil
    }

    /// Whether an LF is the expected end of a CRLF here (anything else makes it a bare LF).
    private var expectsLF: Bool {
        switch state {
        case .sizeLF, .dataLF, .trailerLF: return true
        default: return false
        }
    }

    private mutating func sizeByte(_ byte: UInt8, digits: Int, value: UInt64) -> String? {
        if let digit = Syntax.hexValue(byte) {
            guard digits < Self.maxSizeDigits else { return "chunk size longer than \(Self.maxSizeDigits) hex digits" }
            state = .size(digits: digits + 1, value: value << 4 | UInt64(digit))
            return nil
        }
        guard digits > 0 else { return "chunk size missing or not hex" }
        switch byte {
        case UInt8(ascii: ";"): state = .chunkExtension(value: value)
        case Syntax.cr: state = .sizeLF(value: value)
        default: return "invalid byte 0x\(HTTPRequestParser.hex(byte)) after chunk size"
        }
        return nil
    }

    /// Trailer fields use header syntax (RFC 9112 §7.1.2), with the same strictness.
    private mutating func trailerByte(_ byte: UInt8) -> String? {
        switch state {
        case .trailerLineStart:
            if byte == Syntax.cr {
                state = .trailerLF(lastLine: true)
            } else if Syntax.isWhitespace(byte) {
                return "trailer line starts with whitespace (obs-fold)"
            } else if Syntax.isTChar(byte) {
                state = .trailerName
            } else {
                return "trailer field name is not a token"
            }
        case .trailerName:
            if byte == Syntax.colon {
                state = .trailerValue
            } else if Syntax.isWhitespace(byte) {
                return "whitespace before colon in trailer"
            } else if !Syntax.isTChar(byte) {
                return byte == Syntax.cr ? "trailer line has no colon" : "trailer field name is not a token"
            }
        case .trailerValue:
            if byte == Syntax.cr {
                state = .trailerLF(lastLine: false)
            } else if Syntax.isControl(byte), byte != Syntax.tab {
                return "control byte 0x\(HTTPRequestParser.hex(byte)) in trailer value"
            }
        case .trailerLF(let lastLine):
            guard byte == Syntax.lf else { return "bare CR in trailer section" }
            lineLength = 0
            state = lastLine ? .done : .trailerLineStart
        default:
            break
        }
        return nil
    }
}
