/// HPACK (RFC 7541): the header compression of HTTP/2. The guard decodes every header block the
/// program sends, with a dynamic table kept exactly as the server's decoder keeps it, so that
/// what it judges is what the server will read. Strict: anything the RFC calls an error is one,
/// and sizes are bounded (a decoded list larger than the guard accepts is refused).
struct HPACKDecoder {
    struct Failure: Error, Equatable {
        var reason: String
    }

    /// The dynamic table, newest first, and its size as RFC 7541 §4.1 counts it.
    private var dynamic: [(name: [UInt8], value: [UInt8])] = []
    private var size = 0
    /// The current maximum (changed by size updates in the blocks).
    private(set) var maxSize = 4_096
    /// What a size update may ask for: the server's SETTINGS_HEADER_TABLE_SIZE, bounded.
    var sizeLimit = 65_536
    /// The decoded list (names and values, 32 bytes each more) may not exceed this.
    let listLimit: Int

    init(listLimit: Int) {
        self.listLimit = listLimit
    }

    /// One decoded field, as octets (validated by whoever reads them).
    typealias Field = (name: [UInt8], value: [UInt8])

    /// Decodes one complete header block into its fields, in order.
    mutating func decode(_ block: [UInt8]) throws(Failure) -> [Field] {
        var reader = Reader(bytes: block)
        var fields: [Field] = []
        var listSize = 0
        var fieldSeen = false
        while !reader.atEnd {
            let first = reader.peek
            if first & 0x80 != 0 {
                let index = try reader.integer(prefix: 7)
                let (name, value) = try entry(index)
                try append(&fields, &listSize, name, value)
                fieldSeen = true
            } else if first & 0x40 != 0 {
                let index = try reader.integer(prefix: 6)
                let name = index == 0 ? try reader.string() : try entry(index).name
                let value = try reader.string()
                insert(name, value)
                try append(&fields, &listSize, name, value)
                fieldSeen = true
            } else if first & 0x20 != 0 {
                // A size update belongs at the start of a block (§4.2).
                guard !fieldSeen else { throw Failure(reason: "a dynamic table size update after a header field") }
                let requested = try reader.integer(prefix: 5)
                guard requested <= sizeLimit else { throw Failure(reason: "a dynamic table size of \(requested) bytes is more than the \(sizeLimit) allowed") }
                maxSize = requested
                evict(toFit: 0)
            } else {
                // Literal without indexing (0000) or never indexed (0001): not added.
                let index = try reader.integer(prefix: 4)
                let name = index == 0 ? try reader.string() : try entry(index).name
                let value = try reader.string()
                try append(&fields, &listSize, name, value)
                fieldSeen = true
            }
        }
        return fields
    }

    private func append(_ fields: inout [Field], _ listSize: inout Int, _ name: [UInt8], _ value: [UInt8]) throws(Failure) {
        listSize += name.count + value.count + 32
        guard listSize <= listLimit else { throw Failure(reason: "the header list is larger than \(listLimit) bytes") }
        fields.append((name, value))
    }

    private func entry(_ index: Int) throws(Failure) -> (name: [UInt8], value: [UInt8]) {
        let statics = HPACKStaticTable.entries
        if index >= 1 && index <= statics.count {
            return (Array(statics[index - 1].name.utf8), Array(statics[index - 1].value.utf8))
        }
        let position = index - statics.count - 1
        guard index > 0, position >= 0, position < dynamic.count else { throw Failure(reason: "index \(index) names no table entry") }
        return dynamic[position]
    }

    private mutating func insert(_ name: [UInt8], _ value: [UInt8]) {
        let entrySize = name.count + value.count + 32
        evict(toFit: entrySize)
        // An entry larger than the table empties it and is not added (§4.4).
        guard entrySize <= maxSize else { return }
        dynamic.insert((name, value), at: 0)
        size += entrySize
    }

    private mutating func evict(toFit entrySize: Int) {
        while size + entrySize > maxSize, let last = dynamic.popLast() {
            size -= last.name.count + last.value.count + 32
        }
    }

    /// Reads HPACK primitives from one block.
    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        var atEnd: Bool { position >= bytes.count }
        var peek: UInt8 { bytes[position] }

        /// §5.1: an N-bit prefix, then 7 bits per byte; bounded far below overflow.
        mutating func integer(prefix: Int) throws(Failure) -> Int {
            guard position < bytes.count else { throw Failure(reason: "the block ends inside an integer") }
            let mask = (1 << prefix) - 1
            var value = Int(bytes[position]) & mask
            position += 1
            guard value == mask else { return value }
            var shift = 0
            while true {
                guard position < bytes.count else { throw Failure(reason: "the block ends inside an integer") }
                let byte = Int(bytes[position])
                position += 1
                value += (byte & 0x7F) << shift
                shift += 7
                guard value < 1 << 24, shift <= 28 else { throw Failure(reason: "an integer is too large") }
                if byte & 0x80 == 0 { return value }
            }
        }

        /// §5.2: a length (with the Huffman bit) and the octets.
        mutating func string() throws(Failure) -> [UInt8] {
            guard position < bytes.count else { throw Failure(reason: "the block ends before a string") }
            let huffman = bytes[position] & 0x80 != 0
            let length = try integer(prefix: 7)
            guard length <= bytes.count - position else { throw Failure(reason: "a string runs past the end of the block") }
            let raw = bytes[position..<(position + length)]
            position += length
            guard huffman else { return Array(raw) }
            guard let decoded = HPACKHuffman.decode(raw) else { throw Failure(reason: "a Huffman-coded string is not valid") }
            return decoded
        }
    }
}
