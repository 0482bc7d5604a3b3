import CWardenShim
import Glibc

/// Small file-system helpers for the parent process. Paths inside agent-writable trees are
/// never resolved here; that happens in the child with openat2 (see CWardenShim).
public enum Files {
    public static func read(_ path: String, limit: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        try FileDescriptor.open(path, O_RDONLY).readAll(limit: limit)
    }

    public static func readText(_ path: String, limit: Int = 16 << 20) throws(SystemError) -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }

    /// Writes a file through a temporary name and rename, so readers never see half of it.
    ///
    /// The directory is resolved without following any symlink, the temporary file is created
    /// exclusively under an unpredictable name, and the rename replaces whatever sits at the
    /// final name (a symlink itself, never its target): a symlink planted where Warden (often
    /// root) writes cannot redirect the write.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) {
        let slash = path.lastIndex(of: "/")
        let directoryPath = slash.map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != ".." else { throw SystemError(errno: EINVAL, step: "write \(path)") }
        let directory: FileDescriptor
        do { directory = try FileDescriptor.open(directoryPath, openPathOnly | O_DIRECTORY, resolve: .noLinks) } catch {
            throw SystemError(errno: error.errno, step: "open(\(directoryPath)) without following symlinks")
        }
        // Only a regular file is ever replaced: not a device (`--manifest /dev/null`), a FIFO, a
        // directory, or a symlink someone planted at the name.
        var existing = Glibc.stat()
        if fstatat(directory.raw, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 && (existing.st_mode & S_IFMT) != S_IFREG {
            throw SystemError(errno: EEXIST, step: "\(path) exists and is not a regular file")
        }
        let temporary = "." + name + ".tmp-" + hexString(Host.randomBytes(6))
        do {
            let fd = try check("create(\(temporary))") {
                openat(directory.raw, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            }
            let file = FileDescriptor(fd)
            try file.writeAll(bytes)
            try check("fsync(\(temporary))") { fsync(file.raw) }
            file.close()
            try check("rename(\(path))") { renameat(directory.raw, temporary, directory.raw, name) }
        } catch {
            unlinkat(directory.raw, temporary, 0)
            throw error
        }
    }

    /// Writes a small control file (cgroup knobs, /proc files) in one write(2).
    public static func writeControl(_ path: String, _ text: String) throws(SystemError) {
        let fd = try FileDescriptor.open(path, O_WRONLY)
        let bytes = Array(text.utf8)
        let n = try checkSize("write(\(path))") { bytes.withUnsafeBytes { Glibc.write(fd.raw, $0.baseAddress, $0.count) } }
        if n != bytes.count { throw SystemError(errno: EIO, step: "write(\(path))") }
    }

    /// True when no user other than `uid` (or root) can replace anything at `path`: every
    /// directory from it up to / is a real directory owned by root or `uid` and not writable by
    /// group or others (a sticky root-owned directory such as /tmp is accepted above it), and
    /// `path` itself is not readable or writable by others. Used before trusting cached data.
    public static func isPrivateChain(_ path: String, uid: uid_t) -> Bool {
        guard let leaf = lstat(path), (leaf.st_mode & S_IFMT) == S_IFDIR, leaf.st_uid == uid, leaf.st_mode & 0o077 == 0 else {
            return false
        }
        var current = path
        while let slash = current.lastIndex(of: "/"), current != "/" {
            current = slash == current.startIndex ? "/" : String(current[..<slash])
            guard let st = lstat(current), (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == 0 || st.st_uid == uid else { return false }
            let sticky = st.st_mode & S_ISVTX != 0 && st.st_uid == 0
            if st.st_mode & 0o022 != 0 && !sticky { return false }
        }
        return true
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func lstat(_ path: String) -> Glibc.stat? {
        var st = Glibc.stat()
        return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    public static func stat(_ path: String) -> Glibc.stat? {
        var st = Glibc.stat()
        return fstatat(AT_FDCWD, path, &st, 0) == 0 ? st : nil
    }

    public static func isDirectory(_ path: String) -> Bool {
        guard let st = Files.stat(path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// realpath(3): the canonical absolute path with every symlink resolved.
    public static func canonicalPath(_ path: String) throws(SystemError) -> String {
        guard let resolved = realpath(path, nil) else { throw SystemError.current("realpath(\(path))") }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// mkdir -p with a mode; existing directories are accepted.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && Glibc.errno != EEXIST {
                throw SystemError.current("mkdir(\(current))")
            }
        }
    }

    public static func listDirectory(_ path: String) -> [String] {
        guard let directory = try? FileDescriptor.open(path, O_RDONLY | O_DIRECTORY) else { return [] }
        return listDirectory(directory)
    }

    /// Names in an open directory, sorted (the descriptor is left as it was).
    public static func listDirectory(_ directory: FileDescriptor) -> [String] {
        rawEntries(directory).map(displayName).sorted()
    }

    /// A raw entry name as text (bytes that are not UTF-8 become U+FFFD): for display and
    /// comparison, never to reopen the entry.
    public static func displayName(_ raw: [CChar]) -> String {
        String(decoding: raw.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Names in an open directory as NUL-terminated bytes, without "." and "..", in directory
    /// order, read from the start whatever the descriptor's position.
    public static func rawEntries(_ directory: FileDescriptor) -> [[CChar]] {
        guard lseek(directory.raw, 0, SEEK_SET) == 0 else { return [] }
        var reader = DirectoryReader(bufferSize: 8 << 10)
        var names: [[CChar]] = []
        reader.forEach(directory) { name, _ in names.append(name.map { CChar(bitPattern: $0) } + [0]) }
        return names
    }
}

/// Joins path components with single slashes.
public func joinPath(_ base: String, _ rest: String) -> String {
    if rest.isEmpty { return base }
    if base.hasSuffix("/") { return base + (rest.hasPrefix("/") ? String(rest.dropFirst()) : rest) }
    return base + (rest.hasPrefix("/") ? rest : "/" + rest)
}
