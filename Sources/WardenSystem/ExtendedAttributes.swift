import CWardenShim
import Glibc

/// An open file's extended attributes, for checks that must see every byte a file carries
/// (a snapshot layer is searched for secrets in them too).
public enum ExtendedAttributes {
    /// Each attribute as (name, value); empty when the file system keeps none. Nil when they
    /// cannot be read whole (a list or a value over 64 KiB, an I/O error): a check that must
    /// see every byte then fails closed.
    public static func all(_ file: FileDescriptor) -> [(name: [UInt8], value: [UInt8])]? {
        var names = [CChar](repeating: 0, count: 64 << 10)
        let size = flistxattr(file.raw, &names, names.count)
        if size < 0 { return errno == ENOTSUP ? [] : nil }
        guard size > 0 else { return [] }
        var result: [(name: [UInt8], value: [UInt8])] = []
        for name in names.prefix(size).split(separator: 0) {
            var value = [UInt8](repeating: 0, count: 64 << 10)
            let length = fgetxattr(file.raw, Array(name) + [0], &value, value.count)
            if length < 0 {
                if errno == ENODATA { continue }  // removed meanwhile
                return nil
            }
            result.append((name.map { UInt8(bitPattern: $0) }, Array(value.prefix(length))))
        }
        return result
    }
}
