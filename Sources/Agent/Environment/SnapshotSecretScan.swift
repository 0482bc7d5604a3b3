import Glibc
import Policy
import WardenSystem

/// Looks through a snapshot layer for secret and canary values before the layer is kept. A
/// snapshot outlives the run that wrote it and is what later agents start from, so a value
/// found anywhere in it — a file's content (plain or encoded as detection knows), a name, a
/// link's target, an extended attribute — keeps the layer from being kept. Walks by descriptor
/// from the layer's root, following no link and never crossing into another file system; what
/// cannot be read cannot be vouched for, so it counts as a finding too (fail closed).
struct SnapshotSecretScan {
    enum Finding: Equatable, CustomStringConvertible {
        /// `label` names the value ("secret NPM_TOKEN", "~/.env OPENAI_API_KEY"), never the value.
        case value(label: String, path: String, encoding: String)
        case unreadable(path: String, why: String)
        case tooLarge(limit: UInt64)

        var description: String {
            switch self {
            case .value(let label, let path, let encoding): return "\(label) is in \(path) (\(encoding))"
            case .unreadable(let path, let why): return "\(path) cannot be read to check it for secrets: \(why)"
            case .tooLarge(let limit): return "it holds more than \(limit >> 20) MiB, more than is checked for secrets"
            }
        }
    }

    let matcher: PlantedValueMatcher
    /// Bytes read at most (contents, names and attributes together).
    var limit: UInt64 = 8 << 30
    static let maximumDepth = 256
    private static let chunk = 1 << 20

    init(values: [PlantedValue]) {
        matcher = PlantedValueMatcher(values: values)
    }

    /// The first value found under `directory` (shown as `shownAs`), nil when there is none.
    func firstFinding(in directory: String, shownAs: String) -> Finding? {
        guard !matcher.isEmpty else { return nil }
        let root: FileDescriptor
        do { root = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY, resolve: .noLinks) } catch {
            return .unreadable(path: shownAs, why: error.description)
        }
        var st = stat()
        guard fstat(root.raw, &st) == 0 else { return .unreadable(path: shownAs, why: "fstat failed") }
        var walk = Walk(scan: self, device: st.st_dev)
        return walk.directory(root, path: shownAs, depth: 0)
    }

    /// One walk's state: the bytes read so far and the layer's device.
    private struct Walk {
        let scan: SnapshotSecretScan
        let device: UInt
        var read: UInt64 = 0

        init(scan: SnapshotSecretScan, device: dev_t) {
            self.scan = scan
            self.device = UInt(device)
        }

        mutating func directory(_ directory: FileDescriptor, path: String, depth: Int) -> Finding? {
            guard depth < SnapshotSecretScan.maximumDepth else { return .unreadable(path: path, why: "nested deeper than \(SnapshotSecretScan.maximumDepth) directories") }
            if let found = attributes(directory, path: path) { return found }
            for raw in Files.rawEntries(directory) {
                let name = raw.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
                let child = path + "/" + Files.displayName(raw)
                if let found = bytes(name, place: child + " (its name)") { return found }
                var st = stat()
                guard fstatat(directory.raw, raw, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return .unreadable(path: child, why: SystemError.current("stat").description) }
                guard UInt(st.st_dev) == device else { return .unreadable(path: child, why: "another file system is mounted there") }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    let fd = openat(directory.raw, raw, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard fd >= 0 else { return .unreadable(path: child, why: SystemError.current("open").description) }
                    if let found = self.directory(FileDescriptor(fd), path: child, depth: depth + 1) { return found }
                case S_IFREG:
                    let fd = openat(directory.raw, raw, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                    guard fd >= 0 else { return .unreadable(path: child, why: SystemError.current("open").description) }
                    let file = FileDescriptor(fd)
                    if let found = attributes(file, path: child) ?? contents(file, path: child) { return found }
                case S_IFLNK:
                    var target = [CChar](repeating: 0, count: Int(PATH_MAX))
                    let count = readlinkat(directory.raw, raw, &target, target.count)
                    guard count >= 0 else { return .unreadable(path: child, why: SystemError.current("readlink").description) }
                    if let found = bytes(target.prefix(count).map { UInt8(bitPattern: $0) }, place: child + " (its link target)") { return found }
                default:
                    // Devices (overlayfs whiteouts among them), fifos, sockets: no content.
                    break
                }
            }
            return nil
        }

        /// The file's content, a chunk at a time, each chunk searched together with the end of
        /// the one before so a value split between them is still found.
        mutating func contents(_ file: FileDescriptor, path: String) -> Finding? {
            var carry: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: SnapshotSecretScan.chunk)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(file.raw, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR { continue }
                    return .unreadable(path: path, why: SystemError.current("read").description)
                }
                if count == 0 { return nil }
                read += UInt64(count)
                guard read <= scan.limit else { return .tooLarge(limit: scan.limit) }
                let window = carry + buffer[..<count]
                if let match = scan.matcher.first(in: window) { return finding(match, path) }
                carry = Array(window.suffix(scan.matcher.overlap))
            }
        }

        /// Extended attributes (a user may hide data in `user.*` ones).
        mutating func attributes(_ file: FileDescriptor, path: String) -> Finding? {
            guard let attributes = ExtendedAttributes.all(file) else {
                return .unreadable(path: path, why: "its extended attributes cannot be read whole")
            }
            for (name, value) in attributes {
                if let found = bytes(name + [61] + value, place: path + " (an extended attribute)") { return found }
            }
            return nil
        }

        mutating func bytes(_ bytes: [UInt8], place: String) -> Finding? {
            read += UInt64(bytes.count)
            guard read <= scan.limit else { return .tooLarge(limit: scan.limit) }
            return scan.matcher.first(in: bytes).map { finding($0, place) }
        }

        func finding(_ match: PlantedValueMatcher.Match, _ place: String) -> Finding {
            .value(label: scan.matcher.values[match.value].label, path: place, encoding: match.encoding)
        }
    }
}
