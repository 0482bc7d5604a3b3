/// Where the server's HTTP/2 frames begin and end, so that the guard can put its own frames
/// (a refusal, a GOAWAY) into the program's stream without cutting a server frame or coming
/// between a header block's frames (RFC 9113 §6.10). Only frame headers are read.
struct HTTP2ServerStream {
    private var header: [UInt8] = []
    private var remaining = 0
    private var inHeaderBlock = false
    private var framesSeen = 0

    /// Between two frames, outside a header block, after the server's first frame (its
    /// SETTINGS, which must come first).
    var atSafePoint: Bool { header.isEmpty && remaining == 0 && !inHeaderBlock && framesSeen > 0 }

    /// Follows `bytes`, stopping at the first safe point when `stopAtSafePoint`: returns how
    /// many bytes were followed.
    mutating func follow(_ bytes: UnsafeRawBufferPointer, stopAtSafePoint: Bool) -> Int {
        var index = 0
        while index < bytes.count {
            if stopAtSafePoint && atSafePoint { return index }
            if remaining > 0 {
                let n = min(remaining, bytes.count - index)
                remaining -= n
                index += n
                continue
            }
            header.append(bytes[index])
            index += 1
            guard header.count == HTTP2ClientStream.frameHeaderLength else { continue }
            remaining = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
            let type = header[3], flags = header[4]
            if type == HTTP2ClientStream.FrameType.headers || type == HTTP2ClientStream.FrameType.pushPromise
                || type == HTTP2ClientStream.FrameType.continuation {
                inHeaderBlock = flags & HTTP2ClientStream.Flags.endHeaders == 0
            }
            header.removeAll(keepingCapacity: true)
            framesSeen += 1
        }
        return index
    }
}

/// The few frames the guard writes itself.
enum HTTP2Frames {
    /// A response that ends the stream: `:status` and `x-warden-block`, coded as literals that
    /// never touch the program's HPACK table (only a static name index, no insertion).
    static func refusal(stream: UInt32, status: Int, block: String) -> [UInt8] {
        var fields: [UInt8] = [0x08]  // literal without indexing, name = static 8 (:status)
        fields += string("\(status)")
        for (name, value) in [("content-type", "text/plain; charset=utf-8"), ("x-warden-block", block)] {
            fields.append(0x00)  // literal without indexing, literal name
            fields += string(name)
            fields += string(value)
        }
        let flags = HTTP2ClientStream.Flags.endStream | HTTP2ClientStream.Flags.endHeaders
        return frame(type: HTTP2ClientStream.FrameType.headers, flags: flags, stream: stream, payload: fields)
    }

    /// GOAWAY: no stream above `lastStream` will be processed on this connection.
    static func goaway(lastStream: UInt32, error: UInt32, debug: String) -> [UInt8] {
        var payload = bigEndian(lastStream & 0x7FFF_FFFF) + bigEndian(error)
        payload += Array(debug.utf8.prefix(200))
        return frame(type: HTTP2ClientStream.FrameType.goaway, flags: 0, stream: 0, payload: payload)
    }

    /// WINDOW_UPDATE for the whole connection: gives back flow-control credit.
    static func windowUpdate(increment: Int) -> [UInt8] {
        frame(type: 8, flags: 0, stream: 0, payload: bigEndian(UInt32(min(increment, 0x7FFF_FFFF))))
    }

    static let noError: UInt32 = 0, protocolError: UInt32 = 1

    private static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags] + bigEndian(stream & 0x7FFF_FFFF) + payload
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// An HPACK string literal (not Huffman-coded); header-safe text only.
    private static func string(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8.map { $0 >= 0x20 && $0 < 0x7F ? $0 : 0x3F }.prefix(400))
        return integer(bytes.count, prefix: 7, flags: 0) + bytes
    }

    static func integer(_ value: Int, prefix: Int, flags: UInt8) -> [UInt8] {
        let limit = (1 << prefix) - 1
        guard value >= limit else { return [flags | UInt8(value)] }
        var out = [flags | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }
}
