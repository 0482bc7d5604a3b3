import Glibc
import Sandbox
import WardenSystem

/// What an install (and an agent on its snapshot) sees of the host's /etc beneath the sandbox's
/// own generated and copied files: a copy, made by Warden, of the entries programs and package
/// managers read, holding only what every local user may read anyway (world-readable files in
/// world-searchable directories; no setuid bits). /etc/shadow, SSH host keys, TLS private keys,
/// apt's auth.conf or Warden's own keys never enter it, whatever ids the sandbox is given over it.
enum SnapshotBaseEtc {
    static let packageEntries = ["apt", "dpkg", "debconf.conf", "ucf.conf", "adduser.conf", "deluser.conf", "login.defs", "shells",
                                 "xattr.conf", "init.d", "mime.types"]
    static let maxBytes = 64 << 20
    static let maxEntries = 20_000

    /// Copies the entries from `source` (the host's /etc) into `destination` (made here).
    static func copy(from source: String = "/etc", into destination: String) throws(SystemError) {
        try check("mkdir(\(destination))") { mkdir(destination, 0o755) }
        let from = try FileDescriptor.open(source, O_RDONLY | O_DIRECTORY, resolve: .noLinks)
        let to = try FileDescriptor.open(destination, O_RDONLY | O_DIRECTORY, resolve: .noLinks)
        var budget = (bytes: maxBytes, entries: maxEntries)
        for name in Set(GeneratedEtc.copiedEntries + packageEntries).sorted() {
            try copyEntry(name, from: from, to: to, budget: &budget, depth: 0)
        }
    }

    private static func copyEntry(_ name: String, from: FileDescriptor, to: FileDescriptor, budget: inout (bytes: Int, entries: Int),
                                  depth: Int) throws(SystemError) {
        var st = stat()
        guard fstatat(from.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0, depth < 32, budget.entries > 0 else { return }
        budget.entries -= 1
        let owner = st.st_uid < 1000 ? st.st_uid : 0, group = st.st_gid < 1000 ? st.st_gid : 0
        switch st.st_mode & S_IFMT {
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX))
            let n = readlinkat(from.raw, name, &target, target.count - 1)
            guard n > 0 else { return }
            target[n] = 0
            guard symlinkat(target, to.raw, name) == 0 else { return }
            fchownat(to.raw, name, owner, group, AT_SYMLINK_NOFOLLOW)
        case S_IFDIR where st.st_mode & 0o005 == 0o005:
            guard mkdirat(to.raw, name, 0o755) == 0 else { return }
            let source = FileDescriptor(try check("open(\(name))") { openat(from.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
            let copy = FileDescriptor(try check("open(\(name))") { openat(to.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
            for entry in Files.listDirectory(source) { try copyEntry(entry, from: source, to: copy, budget: &budget, depth: depth + 1) }
            fchmod(copy.raw, st.st_mode & 0o1777)
            fchown(copy.raw, owner, group)
        case S_IFREG where st.st_mode & 0o004 != 0 && Int(st.st_size) <= budget.bytes:
            let source = openat(from.raw, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard source >= 0 else { return }
            let input = FileDescriptor(source)
            guard let bytes = try? input.readAll(limit: budget.bytes) else { return }
            budget.bytes -= bytes.count
            let output = FileDescriptor(try check("create(\(name))") { openat(to.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) })
            try output.writeAll(bytes)
            fchown(output.raw, owner, group)
            fchmod(output.raw, st.st_mode & 0o1777)
        default:
            return  // devices, FIFOs, sockets, and anything not everyone may read
        }
    }
}
