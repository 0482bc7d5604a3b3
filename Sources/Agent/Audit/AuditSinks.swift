import FoundationEssentials
import Glibc
import Store
import WardenSystem

/// One record as a stream delivers it.
struct AuditStreamEntry {
    var sequence: Int64
    var line: String
    var kind: String
    /// RFC 5424 severity: 6 informational, 5 notice (a refusal), 4…2 for flags by severity.
    var severity: Int

    init(_ stored: StoredAuditRecord, format: AuditStreamFormat, encoder: JSONEncoder) {
        sequence = stored.sequence
        line = format.line(stored, encoder: encoder)
        kind = stored.record.kind.rawValue
        switch AuditOCSF.severity(stored.record) {
        case 5: severity = 2
        case 4: severity = 3
        case 3: severity = 4
        case 2: severity = 5
        default: severity = 6
        }
    }
}

/// One delivery channel. `deliver` returns only when the batch is durably handed over (a file
/// synced, a datagram sent, a collector's 2xx), else throws why not; the stream retries.
protocol AuditSink {
    mutating func deliver(_ batch: [AuditStreamEntry]) throws(SystemError)
    /// The newest record the destination itself shows was delivered (a file's last line), so a
    /// crash between delivering and saving the position loses nothing and repeats nothing.
    func lastDelivered() -> Int64?
}

/// JSON Lines in a file (0600), rotated by size: PATH → PATH.1 → … → PATH.keep (the oldest goes).
struct FileSink: AuditSink {
    let path: String
    let maxBytes: UInt64
    let keep: Int
    /// Whether a line torn by a crash has been cut off (once, before the first write).
    private var repaired = false

    init(path: String, maxBytes: UInt64, keep: Int) {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = keep
    }

    mutating func deliver(_ batch: [AuditStreamEntry]) throws(SystemError) {
        var file = try open()
        if !repaired {
            try cutTornLine(file)
            repaired = true
        }
        var size = try currentSize(file)
        var pending: [UInt8] = []
        for entry in batch {
            let bytes = Array((entry.line + "\n").utf8)
            // A line larger than the limit still goes whole, alone in its file.
            let used = size + UInt64(pending.count)
            if used > 0 && used + UInt64(bytes.count) > maxBytes {
                try write(&pending, to: file)
                try rotate()
                file = try open()
                size = 0
            }
            pending += bytes
        }
        try write(&pending, to: file)
    }

    private func write(_ pending: inout [UInt8], to file: FileDescriptor) throws(SystemError) {
        guard !pending.isEmpty else { return }
        var offset = 0
        while offset < pending.count {
            let n = pending[offset...].withUnsafeBytes { Glibc.write(file.raw, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError.current("write(\(path))") }
            offset += n
        }
        try check("fsync(\(path))") { fsync(file.raw) }
        pending.removeAll()
    }

    /// The file, refused unless it is a regular file of Warden's own uid with one link that no
    /// one else may write (in a shared directory someone could have made it first to read along).
    private func open() throws(SystemError) -> FileDescriptor {
        let file = FileDescriptor(try check("open(\(path))") { Glibc.open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) })
        var st = stat()
        try check("fstat(\(path))") { fstat(file.raw, &st) }
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_nlink == 1, st.st_mode & 0o077 == 0 else {
            throw SystemError(errno: EPERM, step: "\(path) is not a regular file of uid \(geteuid()) with one link and mode 0600 (mode \(String(st.st_mode & 0o7777, radix: 8)), uid \(st.st_uid), links \(st.st_nlink))")
        }
        return file
    }

    /// A crash mid-write leaves a partial last line; it was never counted as delivered, so it
    /// is cut off rather than joined to the next record.
    private func cutTornLine(_ file: FileDescriptor) throws(SystemError) {
        var st = stat()
        try check("fstat(\(path))") { fstat(file.raw, &st) }
        guard st.st_size > 0 else { return }
        let length = min(Int(st.st_size), 1 << 20)
        var tail = [UInt8](repeating: 0, count: length)
        guard pread(file.raw, &tail, length, off_t(st.st_size) - off_t(length)) == length, tail.last != 0x0A else { return }
        let keep = tail.lastIndex(of: 0x0A).map { off_t(st.st_size) - off_t(length) + off_t($0) + 1 } ?? (length == Int(st.st_size) ? 0 : off_t(st.st_size))
        try check("ftruncate(\(path))") { ftruncate(file.raw, keep) }
    }

    private func currentSize(_ file: FileDescriptor) throws(SystemError) -> UInt64 {
        var st = stat()
        try check("fstat(\(path))") { fstat(file.raw, &st) }
        return UInt64(st.st_size)
    }

    private func rotate() throws(SystemError) {
        unlink(path + ".\(keep)")
        for index in stride(from: keep - 1, through: 1, by: -1) where Files.lstat(path + ".\(index)") != nil {
            try check("rename(\(path).\(index))") { rename(path + ".\(index)", path + ".\(index + 1)") }
        }
        try check("rename(\(path))") { rename(path, path + ".1") }
    }

    func lastDelivered() -> Int64? {
        for candidate in [path, path + ".1"] {
            guard let fd = try? FileDescriptor.open(candidate, O_RDONLY | O_NOFOLLOW, resolve: .noLinks) else { continue }
            var st = stat()
            guard fstat(fd.raw, &st) == 0, st.st_size > 0 else { continue }
            let length = min(Int(st.st_size), 1 << 20)
            var tail = [UInt8](repeating: 0, count: length)
            let n = pread(fd.raw, &tail, length, off_t(st.st_size) - off_t(length))
            guard n == length else { return nil }
            // The last complete line: a torn write after a crash is not counted as delivered.
            let lines = tail.split(separator: 0x0A, omittingEmptySubsequences: true)
            let complete = tail.last == 0x0A ? lines.last : lines.dropLast().last
            guard let line = complete else { continue }
            return Self.sequence(Array(line))
        }
        return nil
    }

    /// `sequence` (Warden's JSON) or `metadata.uid` (OCSF) of one line.
    static func sequence(_ line: [UInt8]) -> Int64? {
        struct Line: Decodable {
            struct Metadata: Decodable { var uid: String }
            var sequence: Int64?
            var metadata: Metadata?
        }
        guard let decoded = try? JSONDecoder().decode(Line.self, from: Data(line)) else { return nil }
        return decoded.sequence ?? decoded.metadata.flatMap { Int64($0.uid) }
    }
}

/// RFC 5424 messages, one datagram per record, to a local syslog socket: facility 13 (log
/// audit), severity from the decision or the flag's, MSGID the record's kind, the sequence
/// number and run in structured data, the record's JSON as the message.
struct SyslogSink: AuditSink {
    let socket: String
    let hostname: String = {
        var name = [CChar](repeating: 0, count: 256)
        return gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }()

    mutating func deliver(_ batch: [AuditStreamEntry]) throws(SystemError) {
        let fd = FileDescriptor(try check("socket(AF_UNIX)") { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var (address, length) = try UnixSocket.address(socket)
        for entry in batch {
            let message = Array(Self.message(entry, hostname: hostname).utf8)
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd.raw, message, message.count, 0, $0, length) }
            }
            guard sent == message.count else { throw SystemError.current("send to \(socket)") }
        }
    }

    static func message(_ entry: AuditStreamEntry, hostname: String) -> String {
        let now = wallMilliseconds()
        let time = Timestamp.text(now / 1000, milliseconds: Int32(now % 1000))
        return "<\(13 * 8 + entry.severity)>1 \(time) \(hostname.isEmpty ? "-" : hostname) warden \(getpid()) \(entry.kind) [warden@32473 seq=\"\(entry.sequence)\"] \(entry.line)"
    }

    func lastDelivered() -> Int64? { nil }
}

/// Batches POSTed as JSON Lines to a collector by `warden-notify` (libcurl: certificates and
/// host verified against the system's CAs and the policy's trusted ones, no redirects), run as
/// nobody; the URL travels on its standard input, never in argv.
struct CollectorSink: AuditSink {
    let url: String
    /// A CA bundle (the system's and the policy's trusted CAs), or nil for libcurl's default.
    let caBundle: String?

    mutating func deliver(_ batch: [AuditStreamEntry]) throws(SystemError) {
        let own = AgentStartService.executable()
        let program = String(own[..<(own.lastIndex(of: "/") ?? own.startIndex)]) + "/warden-notify"
        guard access(program, X_OK) == 0 else { throw SystemError(errno: ENOENT, step: "\(program) is missing") }
        var arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--", program, "--content-type", "application/x-ndjson"]
        if let caBundle { arguments += ["--ca", caBundle] }
        let body = batch.map(\.line).joined(separator: "\n") + "\n"
        let result = try ChildProcess.run("/usr/bin/setpriv", arguments, input: url + "\n" + body, timeoutSeconds: 45)
        guard result.status == 0 else {
            let why = stripTerminalControls(result.stderr).split(separator: "\n").last.map(String.init) ?? "exit status \(result.status)"
            throw SystemError(errno: EIO, step: "the collector did not take records \(batch.first?.sequence ?? 0)…\(batch.last?.sequence ?? 0): \(why)")
        }
    }

    func lastDelivered() -> Int64? { nil }
}
