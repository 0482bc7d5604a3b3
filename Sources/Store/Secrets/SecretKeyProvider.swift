import CCrypto
import Glibc
import WardenSystem

/// Where the key that seals secrets comes from. Behind a protocol so that an external KMS can
/// take the key file's place.
public protocol SecretKeyProvider: Sendable {
    func key() throws(StoreError) -> [UInt8]
}

/// The default provider: a key file readable by its owner only, kept apart from the database
/// (R18): a copy of the Warden home alone opens no secret. Made on first use with 32 random
/// bytes; refused when it is readable by others, owned by someone else, a link, the wrong
/// size, or inside the home.
public struct KeyFileProvider: SecretKeyProvider {
    public static let systemPath = "/etc/warden/secrets.key"
    public let path: String
    public let home: String
    /// What the key is, for messages ("secrets key", "audit key").
    public let what: String

    public init(path: String = KeyFileProvider.systemPath, home: String, what: String = "secrets key") {
        self.path = path
        self.home = home
        self.what = what
    }

    public func key() throws(StoreError) -> [UInt8] {
        guard path.hasPrefix("/") else { throw StoreError(.unavailable, "the \(what) file must be an absolute path: \(path)") }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let homePath = (try? Files.canonicalPath(home)) ?? home
        let keyDirectory = (try? Files.canonicalPath(directory.isEmpty ? "/" : directory)) ?? directory
        if keyDirectory == homePath || keyDirectory.hasPrefix(homePath + "/") {
            throw StoreError(.unavailable, "the \(what) \(path) is inside the Warden home \(home); keep it apart from the database (R18)")
        }
        if Files.lstat(path) == nil { try create(directory: directory) }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw StoreError(.unavailable, "open the \(what) \(path): \(errnoDescription(errno))") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw StoreError(.unavailable, "the \(what) \(path) is not a regular file") }
        guard st.st_uid == geteuid() else { throw StoreError(.unavailable, "the \(what) \(path) belongs to uid \(st.st_uid), not to Warden's uid \(geteuid())") }
        guard st.st_mode & 0o077 == 0 else {
            throw StoreError(.unavailable, "the \(what) \(path) is readable or writable by others (mode \(String(st.st_mode & 0o777, radix: 8))); it must be 0400 or 0600")
        }
        var key = [UInt8](repeating: 0, count: SecretCipher.keyBytes + 1)
        let n = read(fd, &key, key.count)
        guard n == SecretCipher.keyBytes else { throw StoreError(.unavailable, "the \(what) \(path) is not \(SecretCipher.keyBytes) bytes") }
        return Array(key[0..<SecretCipher.keyBytes])
    }

    private func create(directory: String) throws(StoreError) {
        if !directory.isEmpty && Files.lstat(directory) == nil {
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw StoreError(.unavailable, "create \(directory) for the \(what): \(errnoDescription(errno))")
            }
        }
        var key = [UInt8](repeating: 0, count: SecretCipher.keyBytes)
        guard RAND_bytes(&key, Int32(key.count)) == 1 else { throw StoreError(.unavailable, "no random bytes for the \(what)") }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o400)
        if fd < 0 && errno == EEXIST { return }  // made meanwhile by another process
        guard fd >= 0 else { throw StoreError(.unavailable, "create the \(what) \(path): \(errnoDescription(errno))") }
        defer { Glibc.close(fd) }
        guard write(fd, key, key.count) == key.count, fsync(fd) == 0 else {
            unlink(path)
            throw StoreError(.unavailable, "write the \(what) \(path): \(errnoDescription(errno))")
        }
    }
}
