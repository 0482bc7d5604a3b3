/// Bytes written through a raw pointer into a buffer its caller sized for the worst case: the
/// audit writer's hash encoding and the stream's JSON lines, where appending to an array (its
/// uniqueness and capacity checks per byte) was most of the cost.
struct RawByteWriter {
    let base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0

    init(base: UnsafeMutablePointer<UInt8>) {
        self.base = base
    }

    mutating func byte(_ value: UInt8) {
        base[count] = value
        count += 1
    }

    mutating func bytes(_ value: UnsafeBufferPointer<UInt8>) {
        guard let source = value.baseAddress else { return }
        (base + count).update(from: source, count: value.count)
        count += value.count
    }

    /// `number` in decimal, a minus sign first when negative.
    mutating func decimal(_ number: Int64) {
        if number < 0 { byte(0x2D) }
        var magnitude = number.magnitude
        var index = count + Self.digits(magnitude)
        count = index
        repeat {
            index -= 1
            base[index] = UInt8(truncatingIfNeeded: magnitude % 10) + 0x30
            magnitude /= 10
        } while magnitude > 0
    }

    static func digits(_ magnitude: UInt64) -> Int {
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// The whole buffer so far, as a view.
    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
}
