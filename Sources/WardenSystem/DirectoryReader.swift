import CWardenShim
import Glibc

/// Reads a directory's entries with getdents64 straight into one reusable buffer.
///
/// Why: walking a whole workspace after each run (see GitWorkTreeScan) is dominated by system
/// calls; readdir through a duplicated stream costs about three times as many per directory,
/// and a String or Array per entry costs more than the entry itself.
public struct DirectoryReader {
    private var buffer: [UInt8]

    public init(bufferSize: Int = 64 << 10) {
        buffer = [UInt8](repeating: 0, count: max(bufferSize, 4096))
    }

    /// Calls `body` with each entry's name (without NUL, "." and ".." skipped) and d_type
    /// (DT_UNKNOWN where the file system does not say), from the descriptor's position (the
    /// start, for one just opened). Returns false when the directory could not be read to the end.
    @discardableResult
    public mutating func forEach(_ directory: FileDescriptor, _ body: (UnsafeBufferPointer<UInt8>, UInt8) -> Void) -> Bool {
        while true {
            let count = buffer.withUnsafeMutableBytes { wd_getdents(directory.raw, $0.baseAddress, UInt($0.count)) }
            if count == 0 { return true }
            if count < 0 { return false }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
                while offset + 19 < count {
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt16.self))
                    guard length > 19, offset + length <= count else { return }
                    let type = raw[offset + 18]
                    let start = raw.baseAddress!.advanced(by: offset + 19).assumingMemoryBound(to: UInt8.self)
                    let nameLength = strnlen(UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), length - 19)
                    let name = UnsafeBufferPointer(start: start, count: nameLength)
                    let isDot = nameLength == 1 && start[0] == 46
                    let isDotDot = nameLength == 2 && start[0] == 46 && start[1] == 46
                    if !isDot && !isDotDot { body(name, type) }
                    offset += length
                }
            }
        }
    }
}
