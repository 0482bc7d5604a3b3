/// Follows a chunked request body byte by byte so the guard knows where the next request starts.
///
/// R22 judges every request on a keep-alive connection, which only works if the guard and the
/// server agree on where each body ends. So the grammar of RFC 9112 §7.1 is followed strictly
/// (no whitespace after the size, no "0x", no bare LF, CRLF exactly after the data) and any
/// deviation is malformed; the connection must then be closed, not resynchronised.
public struct ChunkedBodyScanner: Sendable {
    public enum Step: Sendable, Equatable {
        /// All n given bytes belong to the body; more are to come.
        case consumed(Int)
        /// The body (last chunk, trailers, final CRLF) ends after n bytes of the given bytes.
        case finished(Int)
        /// The body cannot be framed; the reason stays the answer to every later call.
        case malformed(String)
    }

    enum State: Sendable, Equatable {
        case size(digits: Int, value: UInt64)
        case chunkExtension(value: UInt64)
        case sizeLF(value: UInt64)
        case data(remaining: UInt64)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerName
        case trailerValue
        case trailerLF(lastLine: Bool)
        case done
        case failed(String)
    }

    /// RFC 9112 §7.1: a size in hex; 16 digits fill a UInt64, so more can only overflow.
    static let maxSizeDigits = 16

    let maxLineLength: Int
    var state: State = .size(digits: 0, value: 0)
    /// Bytes of the current size or trailer line, to bound what a peer can make us read.
    var lineLength = 0

    public init(maxLineLength: Int = 4096) {
        self.maxLineLength = maxLineLength
    }

    /// consumed(n): all n given bytes belong to the body, more to come; finished(n): the body
    /// (last chunk, trailers, final CRLF) ends after n bytes of `bytes`. After `finished`, further
    /// calls answer finished(0): the body ended before those bytes.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Step {
        var index = 0
        while index < bytes.count {
            switch state {
            case .failed(let reason):
                return .malformed(reason)
            case .done:
                return .finished(index)
            case .data(let remaining):
                // Chunk data is opaque: skip it in one step instead of byte by byte.
                let taken = min(remaining, UInt64(bytes.count - index))
                index += Int(taken)
                state = taken == remaining ? .dataCR : .data(remaining: remaining - taken)
            default:
                if let reason = advance(bytes[index]) {
                    state = .failed(reason)
                    return .malformed(reason)
                }
                index += 1
            }
        }
        switch state {
        case .failed(let reason): return .malformed(reason)
        case .done: return .finished(index)
        default: return .consumed(index)
        }
    }
}
