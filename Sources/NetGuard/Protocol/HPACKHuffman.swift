/// Decodes HPACK's Huffman-coded strings (RFC 7541 §5.2). The code is canonical, so each
/// length's codes are consecutive: a symbol is found by comparing the bits read so far with
/// the first code of that length, one bit at a time (header strings are short).
enum HPACKHuffman {
    private struct Tables {
        /// Per length (index = bits): the first code, the number of codes, where its symbols start.
        var first = [UInt32](repeating: 0, count: 31)
        var count = [UInt32](repeating: 0, count: 31)
        var offset = [Int](repeating: 0, count: 31)
        var symbols: [UInt16] = []
    }

    private static let tables: Tables = {
        var tables = Tables()
        let order = (0..<257).sorted { (HPACKHuffmanTable.lengths[$0], HPACKHuffmanTable.codes[$0]) < (HPACKHuffmanTable.lengths[$1], HPACKHuffmanTable.codes[$1]) }
        tables.symbols = order.map(UInt16.init)
        for (position, symbol) in order.enumerated() {
            let length = Int(HPACKHuffmanTable.lengths[symbol])
            if tables.count[length] == 0 {
                tables.first[length] = HPACKHuffmanTable.codes[symbol]
                tables.offset[length] = position
            }
            tables.count[length] += 1
        }
        return tables
    }()

    /// nil when the input is not a valid encoding: a code that names no symbol, EOS, or
    /// padding longer than 7 bits or not all ones.
    static func decode(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
        let tables = Self.tables
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 8 / 5)
        var code: UInt32 = 0
        var length = 0
        for byte in bytes {
            for shift in stride(from: 7, through: 0, by: -1) {
                code = (code << 1) | UInt32((byte >> UInt8(shift)) & 1)
                length += 1
                guard length <= 30 else { return nil }
                let count = tables.count[length]
                guard count > 0, code >= tables.first[length], code - tables.first[length] < count else { continue }
                let symbol = tables.symbols[tables.offset[length] + Int(code - tables.first[length])]
                guard symbol < 256 else { return nil }
                output.append(UInt8(symbol))
                code = 0
                length = 0
            }
        }
        // What is left must be the start of EOS (all ones), shorter than a byte.
        guard length < 8, code == (UInt32(1) << UInt32(length)) - 1 else { return nil }
        return output
    }

    /// Encodes (for tests and for the guard's own refusals, which it never compresses anyway).
    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var accumulator: UInt64 = 0
        var bits = 0
        for byte in bytes {
            accumulator = (accumulator << UInt64(HPACKHuffmanTable.lengths[Int(byte)])) | UInt64(HPACKHuffmanTable.codes[Int(byte)])
            bits += Int(HPACKHuffmanTable.lengths[Int(byte)])
            while bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(bits)))
            }
        }
        if bits > 0 {
            output.append(UInt8(truncatingIfNeeded: (accumulator << UInt64(8 - bits)) | ((1 << UInt64(8 - bits)) - 1)))
        }
        return output
    }
}
