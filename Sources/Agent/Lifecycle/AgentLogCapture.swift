import Glibc
import WardenSystem

/// The agent's standard output and error, as its log: a pipe the sandbox writes into, read on
/// a thread that removes every known secret value (R18) and appends to the log file, which
/// only root can read. The log is capped; past the cap the pipe is drained and a last line
/// says so, so a runaway agent can neither block on its output nor fill the disk (R19).
final class AgentLogCapture {
    static let maximumBytes = 64 << 20

    /// The pipe's write end, to become the sandbox's standard output and error.
    let writeEnd: FileDescriptor
    private let reader: BackgroundWork<Void>

    init(logPath: String, secrets: [String: String]) throws(SystemError) {
        let (readEnd, writeEnd) = try FileDescriptor.pipe()
        self.writeEnd = writeEnd
        let log = FileDescriptor(try check("open(\(logPath))") {
            open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        })
        let box = UncheckedBox((readEnd, log))
        guard let reader = BackgroundWork<Void>.onOwnThread({
            Self.copy(from: box.value.0, to: box.value.1, redactor: SecretRedactor(secrets))
        }) else { throw SystemError(errno: EAGAIN, step: "start the log thread") }
        self.reader = reader
    }

    /// Waits until every writer has closed the pipe and the log holds everything.
    func finish() {
        writeEnd.close()
        reader.wait()
    }

    private static func copy(from pipe: FileDescriptor, to log: FileDescriptor, redactor: SecretRedactor) {
        var redactor = redactor
        var written = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipe.raw, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            let clean = redactor.redact(Array(buffer[0..<n]))
            written = append(clean, to: log, written: written)
        }
        _ = append(redactor.finish(), to: log, written: written)
    }

    /// Appends up to the cap; returns the new count (past the cap, once, the notice).
    private static func append(_ bytes: [UInt8], to log: FileDescriptor, written: Int) -> Int {
        guard written < maximumBytes else { return written }
        let room = maximumBytes - written
        if bytes.count <= room {
            try? log.writeAll(bytes)
            return written + bytes.count
        }
        try? log.writeAll(Array(bytes[0..<room]) + Array("\n[warden: log cut at \(maximumBytes >> 20) MiB; the rest was discarded]\n".utf8))
        return maximumBytes
    }
}
