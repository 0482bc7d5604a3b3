import CWardenShim
import Glibc

/// Runs a trusted system program (given by absolute path) to completion, feeding `input` on
/// its standard input and capturing its standard error; standard output goes to /dev/null.
/// The program starts from the calling thread, so it inherits that thread's namespaces (the
/// network guard runs `nft` from a thread standing in a sandbox's network namespace).
/// The environment is empty but for a fixed PATH: nothing of the caller's leaks in.
public enum ChildProcess {
    /// `environment`: extra `NAME=VALUE` entries (the caller vouches for them). `timeoutSeconds`:
    /// the program is killed (SIGKILL) when it runs longer; its status is then 128 + 9. Standard
    /// error is kept up to 64 KiB and drained past that, so a chatty program never blocks on it.
    public static func run(_ path: String, _ arguments: [String], input: String = "", environment: [String] = [],
                           timeoutSeconds: Double? = nil) throws(SystemError) -> (status: Int32, stderr: String) {
        var inPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        try check("pipe") { wd_pipe2(&inPipe, O_CLOEXEC) }
        defer { for fd in inPipe where fd >= 0 { close(fd) } }
        try check("pipe") { wd_pipe2(&errPipe, O_CLOEXEC) }
        defer { for fd in errPipe where fd >= 0 { close(fd) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv = CStringArray([path] + arguments)
        let envp = CStringArray(["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] + environment)
        var pid: pid_t = 0
        let rc = argv.withPointers { arguments in envp.withPointers { posix_spawn(&pid, path, &actions, nil, arguments, $0) } }
        guard rc == 0 else { throw SystemError(errno: rc, step: "posix_spawn(\(path))") }
        close(inPipe[0]); inPipe[0] = -1
        close(errPipe[1]); errPipe[1] = -1
        let bytes = Array(input.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(inPipe[1], $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            offset += n
        }
        close(inPipe[1]); inPipe[1] = -1
        var errorText: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = timeoutSeconds.map { monotonicNanoseconds() + UInt64(max(0, $0) * 1e9) }
        var killed = false
        while true {
            if let deadline, !killed {
                let now = monotonicNanoseconds()
                var entry = pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)
                let wait = now >= deadline ? 0 : Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
                if poll(&entry, 1, wait) == 0 {
                    kill(pid, SIGKILL)
                    killed = true
                    errorText += Array("\n(killed after \(timeoutSeconds ?? 0) s)".utf8)
                    continue
                }
            }
            let n = chunk.withUnsafeMutableBytes { read(errPipe[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            if errorText.count < 65_536 { errorText += chunk[0..<min(n, 65_536 - errorText.count)] }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, String(decoding: errorText, as: UTF8.self))
    }
}
