import CWardenShim
import Glibc

/// An open file's extended attributes, for checks that must see every byte a file carries
/// (a snapshot layer is searched for secrets in them too).
public enum ExtendedAttributes {
    /// Each attribute as (name, value); values longer than `limit` are cut there. Empty when
    /// the file system keeps none or they cannot be listed.
    public static func all(_ file: FileDescriptor, limit: Int = 64 << 10) -> [(name: [UInt8], value: [UInt8])] {
        var names = [CChar](repeating: 0, count: 64 << 10)
        let size = flistxattr(file.raw, &names, names.count)
        guard size > 0 else { return [] }
        var result: [(name: [UInt8], value: [UInt8])] = []
        for name in names.prefix(size).split(separator: 0) {
            var value = [UInt8](repeating: 0, count: limit)
            let length = fgetxattr(file.raw, Array(name) + [0], &value, value.count)
            guard length >= 0 else { continue }
            result.append((name.map { UInt8(bitPattern: $0) }, Array(value.prefix(length))))
        }
        return result
    }
}
