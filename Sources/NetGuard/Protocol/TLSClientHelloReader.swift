extension TLSClientHelloParser {
    /// Why reading stopped before a verdict. Internal: the public face is `TLSPeek`.
    enum Stop: Error, Equatable {
        case needMore
        case malformed(String)
    }

    /// Reads big-endian fields inside a declared container whose bytes may not all have arrived.
    ///
    /// Two limits, checked in this order, are what make "valid prefix" precise: running past
    /// the *declared* end is malformed at once (a lying length field), while running past the
    /// bytes *received* only means more are needed.
    struct Reader {
        private let bytes: [UInt8]
        private(set) var position: Int
        /// Declared end of this container; may lie beyond `bytes.count`.
        let end: Int

        init(bytes: [UInt8], start: Int, end: Int) {
            self.bytes = bytes
            self.position = start
            self.end = end
        }

        var isAtEnd: Bool { position == end }

        /// Claims `count` bytes; returns where they start.
        private mutating func claim(_ count: Int, _ field: String) throws(Stop) -> Int {
            guard count <= end - position else { throw .malformed("\(field) runs past its container") }
            guard count <= bytes.count - position else { throw .needMore }
            let start = position
            position += count
            return start
        }

        mutating func uint8(_ field: String) throws(Stop) -> Int {
            let at = try claim(1, field)
            return Int(bytes[at])
        }

        mutating func uint16(_ field: String) throws(Stop) -> Int {
            let at = try claim(2, field)
            return Int(bytes[at]) << 8 | Int(bytes[at + 1])
        }

        mutating func skip(_ count: Int, _ field: String) throws(Stop) {
            _ = try claim(count, field)
        }

        mutating func bytes(_ count: Int, _ field: String) throws(Stop) -> ArraySlice<UInt8> {
            let at = try claim(count, field)
            return bytes[at..<(at + count)]
        }

        /// A length-prefixed vector as its own container. The parent moves past it even when its
        /// bytes have not arrived, so the caller must read the child before the parent again.
        mutating func vector(lengthBytes: Int, _ field: String) throws(Stop) -> Reader {
            let length = lengthBytes == 1 ? try uint8("\(field) length") : try uint16("\(field) length")
            guard length <= end - position else { throw .malformed("\(field) runs past its container") }
            let child = Reader(bytes: bytes, start: position, end: position + length)
            position += length
            return child
        }

        /// Declared bytes left in this container.
        var remaining: Int { end - position }
    }
}
