import Glibc

/// A NULL-terminated array of C strings (an argv or envp for posix_spawn and execve), freed
/// with it. Use the pointers only inside `withPointers`, which keeps the strings alive.
public final class CStringArray {
    private let pointers: [UnsafeMutablePointer<CChar>?]

    public init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    public func withPointers<R>(_ body: ([UnsafeMutablePointer<CChar>?]) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(pointers) }
    }

    deinit {
        for pointer in pointers { free(pointer) }
    }
}
