/// A domain name as raw labels, between the wire and the one text form the policy sees.
///
/// Labels keep their bytes as sent; case folding happens only in `text`, so the two directions
/// (text → labels → text) agree exactly, escapes included.
struct DNSName: Sendable, Equatable {
    /// RFC 1035 §2.3.4.
    static let maxLabelLength = 63
    /// RFC 1035 §2.3.4, counting length bytes and the final zero.
    static let maxWireLength = 255

    var labels: [[UInt8]]

    init(labels: [[UInt8]]) {
        self.labels = labels
    }

    /// Uncompressed size on the wire: a length byte per label, the label, and the root's zero.
    var wireLength: Int {
        labels.reduce(1) { $0 + 1 + $1.count }
    }

    /// The canonical text (see `DNSQuestion.name`).
    var text: String {
        Self.text(of: labels[...])
    }

    static func text(of labels: ArraySlice<[UInt8]>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(labels.reduce(0) { $0 + $1.count + 1 })
        for (position, label) in labels.enumerated() {
            if position > 0 { out.append(DNSTextByte.dot) }
            for byte in label {
                let lowered = (DNSTextByte.upperA...DNSTextByte.upperZ).contains(byte) ? byte + 32 : byte
                if isPlain(lowered) {
                    out.append(lowered)
                } else {
                    out.append(DNSTextByte.backslash)
                    out.append(DNSTextByte.zero + lowered / 100)
                    out.append(DNSTextByte.zero + lowered / 10 % 10)
                    out.append(DNSTextByte.zero + lowered % 10)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes written as themselves: the host-name alphabet plus "_" (SRV, DKIM names).
    private static func isPlain(_ byte: UInt8) -> Bool {
        (DNSTextByte.lowerA...DNSTextByte.lowerZ).contains(byte) || (DNSTextByte.zero...DNSTextByte.nine).contains(byte)
            || byte == DNSTextByte.hyphen || byte == DNSTextByte.underscore
    }

    /// Reads the canonical text back, and also what a caller of the builders may write: upper
    /// case, a trailing dot, other printable bytes unescaped. nil for what has no wire form: an
    /// empty label, a label over 63 bytes, a name over 255, a "\" not followed by three digits
    /// making 0...255.
    init?(text: String) {
        var bytes = Array(text.utf8)
        if bytes.last == DNSTextByte.dot { bytes.removeLast() }
        var labels: [[UInt8]] = []
        guard !bytes.isEmpty else {
            self.init(labels: [])
            return
        }
        var label: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == DNSTextByte.dot {
                guard !label.isEmpty else { return nil }
                labels.append(label)
                label = []
                index += 1
            } else if byte == DNSTextByte.backslash {
                guard index + 3 < bytes.count else { return nil }
                var value = 0
                for digit in bytes[(index + 1)..<(index + 4)] {
                    guard (DNSTextByte.zero...DNSTextByte.nine).contains(digit) else { return nil }
                    value = value * 10 + Int(digit - DNSTextByte.zero)
                }
                guard let escaped = UInt8(exactly: value) else { return nil }
                label.append(escaped)
                index += 4
            } else {
                label.append(byte)
                index += 1
            }
            guard label.count <= Self.maxLabelLength else { return nil }
        }
        guard !label.isEmpty else { return nil }
        labels.append(label)
        self.init(labels: labels)
        guard wireLength <= Self.maxWireLength else { return nil }
    }
}

/// The bytes the name syntax uses, named so the escaping rules read as rules.
enum DNSTextByte {
    static let dot: UInt8 = 0x2E
    static let backslash: UInt8 = 0x5C
    static let hyphen: UInt8 = 0x2D
    static let underscore: UInt8 = 0x5F
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let upperA: UInt8 = 0x41
    static let upperZ: UInt8 = 0x5A
    static let lowerA: UInt8 = 0x61
    static let lowerZ: UInt8 = 0x7A
}
