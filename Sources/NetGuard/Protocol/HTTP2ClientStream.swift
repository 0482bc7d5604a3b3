/// The frames a program sends on an inspected HTTP/2 connection (RFC 9113), read as they come:
/// the connection preface, then frame by frame. A request's header block (HEADERS and its
/// CONTINUATION frames, up to a bound) is held until it is complete, decoded with the
/// connection's HPACK state and handed over to be judged; nothing of it goes up before that.
/// Every other frame (DATA, SETTINGS, WINDOW_UPDATE, PING, RST_STREAM, PRIORITY, GOAWAY) is
/// passed on as it arrives, bodies included, so buffering stays bounded whatever the frame size.
struct HTTP2ClientStream {
    enum Step: Equatable {
        /// Pass on this many bytes from the front of the input.
        case forward(Int)
        /// Drop this many bytes: a frame of a refused stream, which the server never opened.
        case drop(Int)
        /// A new request: judge it; its header block is this many bytes from the front.
        case request(stream: UInt32, head: HTTP2RequestHead, bytes: Int)
        /// Not valid HTTP/2 (or a block the guard cannot read): the connection is refused.
        case malformed(String)
        case needMore
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let frameHeaderLength = 9

    private var prefaceSeen = false
    /// Bytes of the current pass-through frame still to come, and whether they are dropped.
    private var passing = 0
    private var dropping = false
    /// Streams whose request was refused: their later frames never reach the server.
    private var refused: Set<UInt32> = []
    private var decoder: HPACKDecoder
    /// The highest stream the program opened (new streams must go up, RFC 9113 §5.1.1).
    private(set) var highestStream: UInt32 = 0
    let maxBlockBytes: Int

    init(maxBlockBytes: Int) {
        self.maxBlockBytes = maxBlockBytes
        decoder = HPACKDecoder(listLimit: maxBlockBytes * 2)
    }

    /// What to do with the front of `input` (bytes decrypted from the program, not yet handled).
    mutating func next(_ input: ArraySlice<UInt8>) -> Step {
        if !prefaceSeen {
            let have = min(input.count, Self.preface.count)
            guard input.prefix(have).elementsEqual(Self.preface.prefix(have)) else { return .malformed("the connection does not start with the HTTP/2 preface") }
            guard have == Self.preface.count else { return .needMore }
            prefaceSeen = true
            return .forward(Self.preface.count)
        }
        if passing > 0 {
            guard !input.isEmpty else { return .needMore }
            let n = min(passing, input.count)
            passing -= n
            return dropping ? .drop(n) : .forward(n)
        }
        guard let header = FrameHeader(input) else { return .needMore }
        switch header.type {
        case FrameType.headers:
            return headerBlock(header, input)
        case FrameType.continuation:
            return .malformed("a CONTINUATION frame outside a header block")
        case FrameType.pushPromise:
            return .malformed("a client may not send PUSH_PROMISE")
        default:
            // Bodies and connection control pass through, streamed.
            passing = header.length
            dropping = header.stream != 0 && refused.contains(header.stream)
            return dropping ? .drop(Self.frameHeaderLength) : .forward(Self.frameHeaderLength)
        }
    }

    /// The request on `stream` was refused: what else the program sends on it is dropped.
    mutating func refuse(_ stream: UInt32) {
        refused.insert(stream)
    }

    /// A HEADERS frame and its CONTINUATION frames, whole: a new request, or trailers.
    private mutating func headerBlock(_ first: FrameHeader, _ input: ArraySlice<UInt8>) -> Step {
        var fragments: [UInt8] = []
        var offset = 0
        var header = first
        while true {
            let frameEnd = offset + Self.frameHeaderLength + header.length
            guard frameEnd - offset <= maxBlockBytes + Self.frameHeaderLength + 256, fragments.count + header.length <= maxBlockBytes else {
                return .malformed("a header block larger than \(maxBlockBytes) bytes")
            }
            guard input.count >= frameEnd else { return .needMore }
            let payload = input[(input.startIndex + offset + Self.frameHeaderLength)..<(input.startIndex + frameEnd)]
            guard header.stream == first.stream, header.stream != 0 else { return .malformed("a header block frame on the wrong stream") }
            if header.type == FrameType.headers {
                guard let fragment = Self.headersFragment(payload, flags: header.flags) else { return .malformed("a HEADERS frame with bad padding or priority") }
                fragments += fragment
            } else {
                fragments += payload
            }
            offset = frameEnd
            if header.flags & Flags.endHeaders != 0 { break }
            guard let next = FrameHeader(input.dropFirst(offset)) else { return .needMore }
            guard next.type == FrameType.continuation else { return .malformed("a header block interrupted by another frame") }
            header = next
        }
        let fields: [HPACKDecoder.Field]
        do {
            fields = try decoder.decode(fragments)
        } catch {
            return .malformed("HPACK: \(error.reason)")
        }
        if first.stream <= highestStream {
            // Trailers of an open stream: no pseudo-header may appear, and the stream ends.
            guard first.flags & Flags.endStream != 0, !fields.contains(where: { $0.name.first == UInt8(ascii: ":") }) else {
                return .malformed("a second header block on stream \(first.stream) that is not trailers")
            }
            return refused.contains(first.stream) ? .drop(offset) : .forward(offset)
        }
        guard first.stream & 1 == 1 else { return .malformed("a client stream with an even id") }
        highestStream = first.stream
        do {
            return .request(stream: first.stream, head: try HTTP2RequestHead.parse(fields), bytes: offset)
        } catch {
            return .malformed(error.message)
        }
    }

    /// The block fragment of a HEADERS payload: without padding and priority fields.
    private static func headersFragment(_ payload: ArraySlice<UInt8>, flags: UInt8) -> ArraySlice<UInt8>? {
        var start = payload.startIndex, end = payload.endIndex
        if flags & Flags.padded != 0 {
            guard let pad = payload.first, Int(pad) < payload.count else { return nil }
            start += 1
            end -= Int(pad)
        }
        if flags & Flags.priority != 0 { start += 5 }
        guard start <= end else { return nil }
        return payload[start..<end]
    }

    struct FrameHeader {
        var length: Int
        var type: UInt8
        var flags: UInt8
        var stream: UInt32

        init?(_ bytes: ArraySlice<UInt8>) {
            guard bytes.count >= HTTP2ClientStream.frameHeaderLength else { return nil }
            let b = Array(bytes.prefix(HTTP2ClientStream.frameHeaderLength))
            length = Int(b[0]) << 16 | Int(b[1]) << 8 | Int(b[2])
            type = b[3]
            flags = b[4]
            stream = (UInt32(b[5]) << 24 | UInt32(b[6]) << 16 | UInt32(b[7]) << 8 | UInt32(b[8])) & 0x7FFF_FFFF
        }
    }

    enum FrameType {
        static let data: UInt8 = 0, headers: UInt8 = 1, rstStream: UInt8 = 3, settings: UInt8 = 4, pushPromise: UInt8 = 5
        static let goaway: UInt8 = 7, continuation: UInt8 = 9
    }

    enum Flags {
        static let endStream: UInt8 = 0x1, endHeaders: UInt8 = 0x4, padded: UInt8 = 0x8, priority: UInt8 = 0x20
    }
}
