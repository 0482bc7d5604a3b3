/// Host names and wildcard suffixes indexed by a hash of their bytes, so that one backward
/// pass over a host name yields the hash of the whole name and of every suffix after a dot,
/// and each is one integer-keyed lookup (verified against the stored bytes). No allocation
/// per lookup.
struct NameIndex: Sendable {
    /// Rules for one name or suffix, deny and allow apart so deny is checked first.
    struct Entry: Sendable {
        let name: [UInt8]
        var deny: [Int32] = []
        var allow: [Int32] = []
    }

    private(set) var entries: [Entry] = []
    private var slots: [UInt64: Int32] = [:]
    /// Bit n set: some indexed name has n labels (bit 63: 63 or more). A lookup for a suffix
    /// with a label count no name has is skipped without hashing into the table.
    private(set) var labelCounts: UInt64 = 0

    @inline(__always)
    func mayHold(labels: Int) -> Bool { labelCounts & (1 << UInt64(min(labels, 63))) != 0 }

    /// The hash of `bytes[start...]`, computed right to left so suffixes share the work.
    @inline(__always)
    static func step(_ hash: UInt64, _ byte: UInt8) -> UInt64 {
        (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    static let seed: UInt64 = 0xCBF2_9CE4_8422_2325

    static func hash(_ bytes: some Collection<UInt8>) -> UInt64 {
        bytes.reversed().reduce(seed, step)
    }

    mutating func add(_ name: String, rule: Int32, action: NetworkRule.Action) {
        let bytes = Array(name.utf8)
        labelCounts |= 1 << UInt64(min(bytes.count(where: { $0 == 0x2E }) + 1, 63))
        let key = Self.hash(bytes)
        let index: Int
        if let existing = slots[key], entries[Int(existing)].name == bytes {
            index = Int(existing)
        } else if slots[key] != nil {
            // A 64-bit collision between two rule names: keep both findable by chaining the
            // second under a derived key (checked in `lookup`).
            var probe = key
            repeat { probe = Self.step(probe, 0x2E) } while slots[probe].map { entries[Int($0)].name != bytes } ?? false
            if let existing = slots[probe] {
                index = Int(existing)
            } else {
                entries.append(Entry(name: bytes))
                index = entries.count - 1
                slots[probe] = Int32(index)
            }
        } else {
            entries.append(Entry(name: bytes))
            index = entries.count - 1
            slots[key] = Int32(index)
        }
        switch action {
        case .allow: entries[index].allow.append(rule)
        case .deny: entries[index].deny.append(rule)
        }
    }

    /// The entry for exactly `bytes[start..<end]` whose hash is `hash`.
    @inline(__always)
    func lookup(_ hash: UInt64, _ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int32? {
        var probe = hash
        while let found = slots[probe] {
            let name = entries[Int(found)].name
            if name.count == bytes.count - start && name.withUnsafeBufferPointer({ stored in
                stored.indices.allSatisfy { stored[$0] == bytes[start + $0] }
            }) {
                return found
            }
            probe = Self.step(probe, 0x2E)
        }
        return nil
    }

    var isEmpty: Bool { entries.isEmpty }
}
