/// The frames a program sends on an inspected HTTP/2 connection (RFC 9113), read as they come:
/// the connection preface, then frame by frame. A request's header block (HEADERS and its
/// CONTINUATION frames, bounded) is held until it is complete, decoded with the connection's
/// HPACK state and handed over to be judged; nothing of it goes up before that. DATA passes as
/// it arrives (bounded buffering whatever the frame size), but only on a stream whose request
/// was judged and is still open, and never more than its `content-length`. Small control
/// frames are read whole and checked; frame types the guard does not know are dropped.
struct HTTP2ClientStream {
    enum Step: Equatable {
        /// Pass on this many bytes from the front of the input.
        case forward(Int)
        /// Drop this many bytes: a frame of a refused stream, or one the guard does not pass.
        case drop(Int)
        /// DATA of a refused stream was dropped: the program's flow-control window lost this
        /// many bytes the server never saw, and must get them back (WINDOW_UPDATE).
        case credit(Int)
        /// A new request: judge it; its header block is this many bytes from the front.
        case request(stream: UInt32, head: HTTP2RequestHead, bytes: Int)
        /// The trailers that end an open request: their fields (for detection), then pass
        /// this many bytes.
        case trailers(stream: UInt32, fields: [HTTPHeader], bytes: Int)
        /// Not valid HTTP/2 (or a block the guard cannot read): the connection is refused.
        case malformed(String)
        case needMore
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let frameHeaderLength = 9
    /// Streams open at once (servers announce 100 to 250).
    static let maxOpenStreams = 1_000

    private var prefaceSeen = false
    /// Bytes of the current streamed DATA frame still to come, and whether they are dropped.
    private var passing = 0
    private var dropping = false
    /// The stream of the DATA frame being passed.
    private var passingStream: UInt32 = 0
    /// Set when the last step forwarded DATA payload (padding included): its stream. Body
    /// scans read only these bytes, per stream, never frame headers or control frames.
    private(set) var lastDataStream: UInt32?
    /// Payload bytes of a dropped DATA frame, returned to the program once the frame is done.
    private var owedCredit = 0
    private var decoder: HPACKDecoder
    /// The highest stream the program opened (new streams must go up, RFC 9113 §5.1.1).
    private(set) var highestStream: UInt32 = 0
    /// Streams whose request went up and whose body has not ended: the bytes their
    /// `content-length` still allows (nil: none given).
    private var open: [UInt32: Int?] = [:]
    /// Streams whose request was refused: what else the program sends on them is dropped.
    private var refused: Set<UInt32> = []
    /// After a refusal no header block is taken at all (the server's HPACK table no longer
    /// matches the program's).
    private var closedToHeaders = false
    let maxBlockBytes: Int

    /// Whether a request on `stream` is still sending.
    func isOpen(_ stream: UInt32) -> Bool { open[stream] != nil }

    init(maxBlockBytes: Int) {
        self.maxBlockBytes = maxBlockBytes
        decoder = HPACKDecoder(listLimit: maxBlockBytes * 2)
    }

    /// What to do with the front of `input` (bytes decrypted from the program, not yet handled).
    mutating func next(_ input: ArraySlice<UInt8>) -> Step {
        lastDataStream = nil
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
            if !dropping { lastDataStream = passingStream }
            return dropping ? .drop(n) : .forward(n)
        }
        if owedCredit > 0 {
            defer { owedCredit = 0 }
            return .credit(owedCredit)
        }
        guard let header = FrameHeader(input) else { return .needMore }
        switch header.type {
        case FrameType.headers:
            return headerBlock(header, input)
        case FrameType.continuation:
            return .malformed("a CONTINUATION frame outside a header block")
        case FrameType.pushPromise:
            return .malformed("a client may not send PUSH_PROMISE")
        case FrameType.data:
            return data(header, input)
        case FrameType.settings, FrameType.ping, FrameType.goaway, FrameType.windowUpdate, FrameType.rstStream, FrameType.priority:
            return control(header, input)
        default:
            // An extension the guard does not know: ignored, as RFC 9113 §4.1 allows.
            guard header.length <= 16_384 else { return .malformed("an unknown frame larger than 16384 bytes") }
            guard input.count >= Self.frameHeaderLength + header.length else { return .needMore }
            return .drop(Self.frameHeaderLength + header.length)
        }
    }

    /// The request on `stream` was refused: what else the program sends on it is dropped, and
    /// no later header block is taken on this connection.
    mutating func refuse(_ stream: UInt32) {
        refused.insert(stream)
        open[stream] = nil
        closedToHeaders = true
    }

    /// DATA: only on an open, judged stream, within its content-length; streamed.
    private mutating func data(_ header: FrameHeader, _ input: ArraySlice<UInt8>) -> Step {
        var pad = 0
        if header.flags & Flags.padded != 0 {
            guard input.count > Self.frameHeaderLength else { return .needMore }
            pad = Int(input[input.startIndex + Self.frameHeaderLength]) + 1
            guard pad <= header.length else { return .malformed("a DATA frame with more padding than payload") }
        }
        let body = header.length - pad
        passing = header.length
        passingStream = header.stream
        if refused.contains(header.stream) {
            dropping = true
            owedCredit = header.length
            return .drop(Self.frameHeaderLength)
        }
        guard let limit = open[header.stream] else {
            return .malformed("DATA on stream \(header.stream), which has no open request")
        }
        if let limit {
            guard body <= limit else { return .malformed("stream \(header.stream) sends more than its content-length") }
            guard header.flags & Flags.endStream == 0 || body == limit else { return .malformed("stream \(header.stream) ends before its content-length") }
            open[header.stream] = .some(limit - body)
        }
        if header.flags & Flags.endStream != 0 { open[header.stream] = nil }
        dropping = false
        return .forward(Self.frameHeaderLength)
    }

    /// Connection and stream control frames: small, read whole, checked, passed (a GOAWAY
    /// without its debug data, which nothing needs and could carry anything).
    private mutating func control(_ header: FrameHeader, _ input: ArraySlice<UInt8>) -> Step {
        let onStream = header.stream != 0
        switch header.type {
        case FrameType.settings:
            guard !onStream, header.length % 6 == 0, header.length <= 6 * 32 else { return .malformed("a bad SETTINGS frame") }
        case FrameType.ping:
            guard !onStream, header.length == 8 else { return .malformed("a bad PING frame") }
        case FrameType.goaway:
            guard !onStream, header.length >= 8, header.length <= 16_384 else { return .malformed("a bad GOAWAY frame") }
        case FrameType.windowUpdate:
            guard header.length == 4 else { return .malformed("a bad WINDOW_UPDATE frame") }
        case FrameType.rstStream:
            guard onStream, header.length == 4 else { return .malformed("a bad RST_STREAM frame") }
        default:
            guard onStream, header.length == 5 else { return .malformed("a bad PRIORITY frame") }
        }
        let total = Self.frameHeaderLength + header.length
        guard input.count >= total else { return .needMore }
        if onStream {
            // Only streams the server knows: refused or idle ones are the guard's to drop.
            if refused.contains(header.stream) || header.stream > highestStream {
                if header.type == FrameType.priority || refused.contains(header.stream) { return .drop(total) }
                return .malformed("a frame on stream \(header.stream), which was never opened")
            }
            if header.type == FrameType.rstStream { open[header.stream] = nil }
        }
        if header.type == FrameType.goaway && header.length > 8 {
            // Debug data could carry anything to the server; the program is leaving anyway.
            return .malformed("GOAWAY with debug data")
        }
        return .forward(total)
    }

    /// A HEADERS frame and its CONTINUATION frames, whole: a new request, or trailers.
    private mutating func headerBlock(_ first: FrameHeader, _ input: ArraySlice<UInt8>) -> Step {
        guard !closedToHeaders else { return .malformed("a header block after a refused request (the connection is ending)") }
        var fragments: [UInt8] = []
        var offset = 0
        var header = first
        while true {
            let frameEnd = offset + Self.frameHeaderLength + header.length
            // The whole block, framing included, is bounded (empty CONTINUATION frames too).
            guard frameEnd <= maxBlockBytes + 1_024 else { return .malformed("a header block larger than \(maxBlockBytes) bytes") }
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
        let endsStream = first.flags & Flags.endStream != 0
        if first.stream <= highestStream {
            // Trailers: only on an open stream, ending it, without pseudo-headers.
            guard open[first.stream] != nil, endsStream, !fields.contains(where: { $0.name.first == UInt8(ascii: ":") }) else {
                return .malformed("a header block on stream \(first.stream) that is not the trailers of an open request")
            }
            if case .some(.some(let remaining)) = open[first.stream], remaining != 0 {
                return .malformed("stream \(first.stream) ends before its content-length")
            }
            open[first.stream] = nil
            let trailers = fields.map { HTTPHeader(name: String(decoding: $0.name, as: UTF8.self), value: String(decoding: $0.value, as: UTF8.self)) }
            return .trailers(stream: first.stream, fields: trailers, bytes: offset)
        }
        guard first.stream & 1 == 1 else { return .malformed("a client stream with an even id") }
        guard open.count < Self.maxOpenStreams else { return .malformed("more than \(Self.maxOpenStreams) streams open at once") }
        highestStream = first.stream
        let head: HTTP2RequestHead
        do {
            head = try HTTP2RequestHead.parse(fields)
        } catch {
            return .malformed(error.message)
        }
        if let length = head.contentLength, endsStream, length != 0 { return .malformed("a request that ends before its content-length") }
        if !endsStream { open[first.stream] = .some(head.contentLength) }
        return .request(stream: first.stream, head: head, bytes: offset)
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
        static let data: UInt8 = 0, headers: UInt8 = 1, priority: UInt8 = 2, rstStream: UInt8 = 3, settings: UInt8 = 4
        static let pushPromise: UInt8 = 5, ping: UInt8 = 6, goaway: UInt8 = 7, windowUpdate: UInt8 = 8, continuation: UInt8 = 9
    }

    enum Flags {
        static let endStream: UInt8 = 0x1, endHeaders: UInt8 = 0x4, padded: UInt8 = 0x8, priority: UInt8 = 0x20
    }
}
