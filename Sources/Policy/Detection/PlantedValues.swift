import Glibc

/// Rule 8: values whose appearance in outbound data is proof of a leak — canary credentials
/// planted in the sandbox (no host is meant to receive them), and the values of secrets given
/// to the run (only their allowed hosts are). Each value is looked for as it is and in the
/// encodings a program would use to smuggle it: hex (both cases), base64 and base64url at all
/// three alignments, base32 at all five (DNS labels), and fully percent-encoded. The matcher
/// holds only the values' encodings; a flag names the value by its label and fingerprint.
public struct PlantedValue: Sendable {
    public enum Origin: String, Sendable {
        case canary, secret
    }

    public var origin: Origin
    /// What it is: "canary aws_secret_access_key (~/.aws/credentials)", "secret OPENAI_API_KEY".
    public var label: String
    /// A short digest of the value, for matching a flag to a value without storing it.
    public var fingerprint: String
    /// Hosts allowed to receive it (secrets; canaries have none).
    public var hosts: [DomainPattern]
    let value: [UInt8]

    public init(origin: Origin, label: String, value: String, fingerprint: String, hosts: [DomainPattern] = []) {
        self.origin = origin
        self.label = label
        self.value = Array(value.utf8)
        self.fingerprint = fingerprint
        self.hosts = hosts
    }

    /// Whether `host` may receive the value.
    public func mayReach(_ host: String?) -> Bool {
        guard let host else { return false }
        return hosts.contains { $0.matches(host) }
    }

    /// Shorter values would match by chance; they are not looked for.
    public static let minimumLength = 8
}

/// Finds planted values in bytes, Wu–Manber style: the shortest needle sets a window, every
/// four-byte block of each needle's first window gives how far the window may jump when that
/// block ends it, and most blocks of ordinary data are in no needle, so the scan looks at about
/// one position in (window − 3). Where a jump is 0, the needles starting at the window's first
/// four bytes are compared whole.
public struct PlantedValueMatcher: Sendable {
    public struct Match: Sendable, Equatable {
        public var value: Int
        public var encoding: String
    }

    private struct Needle: Sendable {
        var bytes: [UInt8]
        var value: Int
        var encoding: String
    }

    public let values: [PlantedValue]
    private var needles: [Needle] = []
    private var byPrefix: [UInt32: [Int]] = [:]
    /// Jump per hashed four-byte block (the window's last block); 0: check here.
    private var shifts: [UInt8] = []
    /// The shortest needle's length: the window.
    private var window = 4
    /// Compare lower-cased (DNS names, where case is not data).
    public let foldsCase: Bool
    /// Bytes to carry over between chunks so a value split across them is still found.
    public private(set) var overlap = 0

    public init(values: [PlantedValue], foldsCase: Bool = false) {
        self.values = values
        self.foldsCase = foldsCase
        for (index, value) in values.enumerated() where value.value.count >= PlantedValue.minimumLength {
            for (encoding, bytes) in Self.encodings(value.value) {
                let folded = foldsCase ? bytes.map(Self.lower) : bytes
                guard folded.count >= 4, !needles.contains(where: { $0.bytes == folded && $0.value == index }) else { continue }
                needles.append(Needle(bytes: folded, value: index, encoding: encoding))
                overlap = max(overlap, folded.count - 1)
            }
        }
        window = min(needles.map(\.bytes.count).min() ?? 4, 255)
        let largest = window - 4 + 1
        shifts = [UInt8](repeating: UInt8(largest), count: 1 << 16)
        for (index, needle) in needles.enumerated() {
            byPrefix[Self.key(needle.bytes, 0), default: []].append(index)
            for start in 0...(window - 4) {
                let slot = Self.slot(Self.key(needle.bytes, start))
                shifts[slot] = min(shifts[slot], UInt8(window - 4 - start))
            }
        }
    }

    public var isEmpty: Bool { needles.isEmpty }

    /// The first planted value in `bytes` that `counts` (by default every one). A value that
    /// does not count (a secret on its way to one of its own hosts) is passed over and the
    /// search goes on, so it cannot hide a canary after it.
    public func first(in bytes: UnsafeRawBufferPointer, counts: (PlantedValue) -> Bool = { _ in true }) -> Match? {
        guard !needles.isEmpty, bytes.count >= 4 else { return nil }
        if foldsCase {
            let lowered = bytes.map(Self.lower)
            return lowered.withUnsafeBytes { search($0, counts) }
        }
        return search(bytes, counts)
    }

    public func first(in bytes: [UInt8], counts: (PlantedValue) -> Bool = { _ in true }) -> Match? {
        bytes.withUnsafeBytes { first(in: $0, counts: counts) }
    }

    /// Every place a planted value starts, as (offset, length, value): what a caller exempts.
    public func matches(in bytes: UnsafeRawBufferPointer) -> [(offset: Int, length: Int, value: Int)] {
        var found: [(offset: Int, length: Int, value: Int)] = []
        guard !foldsCase else { return found }
        _ = search(bytes) { _ in false } report: { found.append($0) }
        return found
    }

    /// The hot loop: raw pointers, no bounds checks or reference counting per byte; the
    /// dictionary is consulted only where the filter's bit is set.
    private func search(_ bytes: UnsafeRawBufferPointer, _ counts: (PlantedValue) -> Bool,
                        report: ((offset: Int, length: Int, value: Int)) -> Void = { _ in }) -> Match? {
        guard let base = bytes.baseAddress, bytes.count >= window else { return nil }
        let count = bytes.count
        let tail = window - 4
        return shifts.withUnsafeBufferPointer { shifts -> Match? in
            // `block`: where the window's last four bytes start.
            var block = tail
            while block + 4 <= count {
                let jump = Int(shifts[Self.slot((base + block).loadUnaligned(as: UInt32.self))])
                if jump > 0 {
                    block &+= jump
                    continue
                }
                let start = block &- tail
                if let match = matchAt(base, count, start, counts, report) { return match }
                block &+= 1
            }
            return nil
        }
    }

    /// The needles that start at `index`: the first whose value counts, else nil (each one
    /// found is reported either way).
    private func matchAt(_ base: UnsafeRawPointer, _ count: Int, _ index: Int, _ counts: (PlantedValue) -> Bool,
                         _ report: ((offset: Int, length: Int, value: Int)) -> Void) -> Match? {
        guard let candidates = byPrefix[(base + index).loadUnaligned(as: UInt32.self)] else { return nil }
        for candidate in candidates {
            let needle = needles[candidate]
            guard index + needle.bytes.count <= count else { continue }
            let equal = needle.bytes.withUnsafeBytes { memcmp($0.baseAddress!, base + index, needle.bytes.count) == 0 }
            guard equal else { continue }
            report((index, needle.bytes.count, needle.value))
            if counts(values[needle.value]) { return Match(value: needle.value, encoding: needle.encoding) }
        }
        return nil
    }

    private static func key(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
    }

    private static func slot(_ key: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(key) &* 0x9E37_79B9_7F4A_7C15) &>> 48)
    }

    private static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c + 0x20 : c }

    // MARK: - Encodings

    static func encodings(_ value: [UInt8]) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = [("plain", value), ("hex", hex(value, upper: false)), ("hex", hex(value, upper: true))]
        for offset in 0..<3 {
            let standard = base64Inner(value, offset: offset)
            out.append(("base64", standard))
            out.append(("base64url", standard.map { $0 == 0x2B ? 0x2D : $0 == 0x2F ? 0x5F : $0 }))
        }
        for offset in 0..<5 { out.append(("base32", base32Inner(value, offset: offset))) }
        out.append(("percent", value.flatMap { [0x25] + hex([$0], upper: true) }))
        out.append(("percent", value.flatMap { [0x25] + hex([$0], upper: false) }))
        return out
    }

    private static let hexDigitsLower = Array("0123456789abcdef".utf8)
    private static let hexDigitsUpper = Array("0123456789ABCDEF".utf8)
    private static let base64Digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let base32Digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func hex(_ bytes: [UInt8], upper: Bool) -> [UInt8] {
        let digits = upper ? hexDigitsUpper : hexDigitsLower
        return bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }
    }

    /// The characters of `value`'s encoding that do not depend on the bytes around it, when
    /// it starts `offset` bytes into a group: `bitsPerDigit`-bit digits fully inside it.
    private static func innerDigits(_ value: [UInt8], offset: Int, bitsPerDigit: Int, alphabet: [UInt8]) -> [UInt8] {
        let startBit = offset * 8
        let endBit = startBit + value.count * 8
        var out: [UInt8] = []
        var digit = (startBit + bitsPerDigit - 1) / bitsPerDigit
        while (digit + 1) * bitsPerDigit <= endBit {
            var code = 0
            for bit in (digit * bitsPerDigit)..<((digit + 1) * bitsPerDigit) {
                let byte = value[(bit - startBit) / 8]
                code = code << 1 | Int((byte >> UInt8(7 - (bit - startBit) % 8)) & 1)
            }
            out.append(alphabet[code])
            digit += 1
        }
        return out
    }

    static func base64Inner(_ value: [UInt8], offset: Int) -> [UInt8] {
        innerDigits(value, offset: offset, bitsPerDigit: 6, alphabet: base64Digits)
    }

    static func base32Inner(_ value: [UInt8], offset: Int) -> [UInt8] {
        innerDigits(value, offset: offset, bitsPerDigit: 5, alphabet: base32Digits)
    }
}
