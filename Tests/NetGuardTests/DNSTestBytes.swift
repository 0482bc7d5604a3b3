import NetGuard

/// Hand-made wire bytes for the DNS tests, so each test states the exact message it sends.
enum DNSTestBytes {
    /// `dig example.com A` as dig 9.18 sends it: RD and AD set, EDNS(0) with a 1232-byte UDP
    /// size and an 8-byte client COOKIE option. Written byte by byte per RFC 1035/6891 with
    /// Python's struct module (no capture tool on the build machine).
    static let digQuery: [UInt8] = [
        0x1c, 0x2b, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61,
        0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29,
        0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0x5a, 0xd1, 0xc0, 0xff,
        0xee, 0x0b, 0x2c, 0x3d,
    ]

    /// A recursive resolver's answer to `www.github.com A`, laid out as unbound lays it out: the
    /// CNAME's owner points at the question (0xC00C), its target and the A record's owner point
    /// at "github.com" inside the question (0xC010), and an OPT record closes the message.
    static let githubResponse: [UInt8] = [
        0x8a, 0x3f, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x03, 0x77, 0x77, 0x77,
        0x06, 0x67, 0x69, 0x74, 0x68, 0x75, 0x62, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
        0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x02, 0xc0, 0x10, 0xc0, 0x10,
        0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0x8c, 0x52, 0x79, 0x04, 0x00, 0x00,
        0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]

    static func header(
        id: UInt16 = 0x1234, flags: UInt16, qd: UInt16 = 1, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0
    ) -> [UInt8] {
        [id, flags, qd, an, ns, ar].flatMap(u16)
    }

    static func u16(_ value: UInt16) -> [UInt8] {
        [UInt8(value >> 8), UInt8(value & 0xFF)]
    }

    static func u32(_ value: UInt32) -> [UInt8] {
        u16(UInt16(value >> 16)) + u16(UInt16(value & 0xFFFF))
    }

    /// Uncompressed wire form of raw labels.
    static func name(_ labels: [[UInt8]]) -> [UInt8] {
        labels.flatMap { [UInt8($0.count)] + $0 } + [0]
    }

    static func name(_ text: String) -> [UInt8] {
        name(text.split(separator: ".").map { Array($0.utf8) })
    }

    /// A record's fixed fields after its owner name (class IN).
    static func recordTail(type: UInt16, ttl: UInt32 = 300, rdata: [UInt8]) -> [UInt8] {
        u16(type) + u16(1) + u32(ttl) + u16(UInt16(rdata.count)) + rdata
    }

    /// An empty OPT record (root owner, 1232-byte UDP size).
    static let opt: [UInt8] = [0] + u16(41) + u16(1232) + u32(0) + u16(0)

    static func parseQuery(_ bytes: [UInt8]) -> DNSQueryParse {
        exactly(bytes) { DNSMessageParser.parseQuery($0) }
    }

    static func parseResponse(_ bytes: [UInt8]) -> DNSResponse? {
        exactly(bytes) { DNSMessageParser.parseResponse($0) }
    }

    /// Hands the parser a heap block of exactly the message's size, not an array's storage
    /// (which may have spare capacity), so a read one byte too far is caught by the address
    /// sanitizer and by the buffer's debug bounds checks.
    static func exactly<Result>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { buffer.deallocate() }
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return body(UnsafeRawBufferPointer(buffer))
    }

    static func reason(_ bytes: [UInt8]) -> String? {
        if case .malformed(let reason) = parseQuery(bytes) { return reason }
        return nil
    }

    static func query(_ bytes: [UInt8]) -> DNSQuery? {
        if case .query(let query) = parseQuery(bytes) { return query }
        return nil
    }
}
