/// Reads the entries of a git index file: paths, which are gitlinks (submodule entries, mode
/// 160000), and the shared index a split index builds on.
///
/// Why: `git status` on the host descends into the work tree of every gitlink in the index and
/// reads that repository's configuration. A sandbox can stage a gitlink next to a repository it
/// made, so Warden compares the gitlinks before and after a run. Versions 2, 3 and 4 of the
/// format are read (4 compresses paths); a malformed index yields nil.
public enum GitIndex {
    public struct Contents: Equatable, Sendable {
        /// Paths of gitlink entries that carry a name.
        public var gitlinks: [String] = []
        /// Every path in the index.
        public var paths: [String] = []
        /// Object name (hex) of the shared index of a split index: `sharedindex.<name>` holds
        /// the entries this file only amends.
        public var sharedIndex: String?
        /// A split index replaced some shared entry with a gitlink and left its name out (the
        /// shared index's position decides the path): any shared path may then be a gitlink.
        public var hasUnnamedGitlink = false
        /// A gitlink path that is not UTF-8: it cannot be named in a mount plan.
        public var hasUndecodableGitlink = false
    }

    /// Gitlink paths, or nil when `data` is not an index.
    public static func gitlinks(_ data: [UInt8], hashSize: Int = 20) -> [String]? {
        read(data, hashSize: hashSize)?.gitlinks
    }

    public static func read(_ data: [UInt8], hashSize: Int = 20) -> Contents? {
        guard data.count >= 12 + hashSize, data[0..<4].elementsEqual(Array("DIRC".utf8)) else { return nil }
        let version = be32(data, 4), count = be32(data, 8)
        guard (2...4).contains(version), count <= 50_000_000 else { return nil }
        let end = data.count - hashSize
        var contents = Contents()
        var offset = 12
        var previous: [UInt8] = []
        for _ in 0..<count {
            let start = offset
            let fixed = 40 + hashSize
            guard offset + fixed + 2 <= end else { return nil }
            let mode = be32(data, offset + 24)
            let flags = Int(data[offset + fixed]) << 8 | Int(data[offset + fixed + 1])
            offset += fixed + 2
            // git reads extended flags whatever the version; a reader that did not would
            // misalign and could be steered past a gitlink.
            if flags & 0x4000 != 0 {
                guard version >= 3 else { return nil }
                offset += 2
            }
            guard offset <= end else { return nil }
            var path: [UInt8]
            if version == 4 {
                guard let (strip, next) = varint(data, offset, end: end), strip <= previous.count else { return nil }
                offset = next
                guard let terminator = data[offset..<end].firstIndex(of: 0) else { return nil }
                path = Array(previous.prefix(previous.count - strip)) + data[offset..<terminator]
                offset = terminator + 1
            } else {
                guard let terminator = data[offset..<end].firstIndex(of: 0) else { return nil }
                path = Array(data[offset..<terminator])
                // The entry, terminator included, is padded with NULs to a multiple of 8.
                offset = start + ((terminator - start + 8) / 8) * 8
                guard offset <= end else { return nil }
            }
            // git takes the length from the flags (0xFFF: longer); a disagreement is refused.
            let length = flags & 0xFFF
            guard length == 0xFFF ? path.count >= 0xFFF : path.count == length else { return nil }
            previous = path
            let name = String(decoding: path, as: UTF8.self)
            contents.paths.append(name)
            if mode & 0o170000 == 0o160000 {
                if path.isEmpty {
                    contents.hasUnnamedGitlink = true
                } else if Array(name.utf8) != path {
                    contents.hasUndecodableGitlink = true
                } else {
                    contents.gitlinks.append(name)
                }
            }
        }
        // Extensions: a 4-byte signature, a 32-bit size, then the data; the "link" extension
        // starts with the shared index's object name.
        while offset + 8 <= end {
            let size = be32(data, offset + 4)
            guard size <= end - offset - 8 else { return nil }
            if data[offset..<offset + 4].elementsEqual(Array("link".utf8)) {
                guard size >= hashSize else { return nil }
                contents.sharedIndex = data[(offset + 8)..<(offset + 8 + hashSize)].map { byte in
                    let digits = Array("0123456789abcdef".utf8)
                    return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
                }.joined()
            }
            offset += 8 + size
        }
        return contents
    }

    private static func be32(_ data: [UInt8], _ offset: Int) -> Int {
        Int(data[offset]) << 24 | Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8 | Int(data[offset + 3])
    }

    /// git's offset varint (index v4 path prefix lengths).
    private static func varint(_ data: [UInt8], _ start: Int, end: Int) -> (Int, Int)? {
        var offset = start
        guard offset < end else { return nil }
        var byte = data[offset]
        var value = Int(byte & 0x7f)
        offset += 1
        while byte & 0x80 != 0 {
            guard offset < end, value < Int.max >> 8 else { return nil }
            byte = data[offset]
            offset += 1
            value = ((value + 1) << 7) | Int(byte & 0x7f)
        }
        return (value, offset)
    }
}
