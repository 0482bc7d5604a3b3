import Foundation
import Testing

/// R12: an interactive run gets its own pseudo-terminal relayed by Warden: job control works
/// inside and terminal injection reaches nothing on the caller's side.
@Suite("Escape: terminals", .enabled(if: Warden.isRoot))
struct TerminalTests {
    /// Runs warden under a pseudo-terminal made by Python on the host and returns what the
    /// caller's terminal received.
    private func underTerminal(_ command: [String]) -> String {
        let workspace = Workspace()
        let driver = workspace.root + "/driver.py"
        let script = """
            import os, pty, select, sys, time
            argv = sys.argv[1:]
            pid, master = pty.fork()
            if pid == 0:
                os.execv(argv[0], argv)
            output = b""
            deadline = time.time() + 30
            while time.time() < deadline:
                ready, _, _ = select.select([master], [], [], 0.5)
                if ready:
                    try:
                        data = os.read(master, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    output += data
                elif os.waitpid(pid, os.WNOHANG)[0] != 0:
                    break
            os.write(1, output)
            """
        _ = FileManager.default.createFile(atPath: driver, contents: Data(script.utf8))
        let result = Warden.execute("/usr/bin/python3", [driver, Warden.binary, "run", "--"] + command, directory: workspace.path, timeout: 40)
        return result.stdout
    }

    @Test("the sandbox gets its own terminal, not the caller's")
    func ownTerminal() {
        let output = underTerminal(["sh", "-c", "tty; test -t 0 && echo STDIN-IS-TTY"])
        #expect(output.contains("/dev/pts/0"), "\(output)")
        #expect(output.contains("STDIN-IS-TTY"))
    }

    @Test("TIOCSTI is refused, also with upper bits set (R7, R12)")
    func tiocsti() {
        let code = "import fcntl,ctypes\ntry:\n fcntl.ioctl(0, 0x5412, b'Z')\n print('INJECTED')\nexcept OSError as e:\n print('REFUSED', e.errno)\nr = ctypes.CDLL(None, use_errno=True).syscall(16, 0, ctypes.c_ulong(0x5412 | (1 << 32)), b'Z')\nprint('HIGH', r, ctypes.get_errno())"
        let output = underTerminal(["python3", "-c", code])
        #expect(output.contains("REFUSED 1"), "\(output)")
        #expect(output.contains("HIGH -1 1"), "\(output)")
        #expect(!output.contains("INJECTED"))
    }

    @Test("escape sequences that act on the caller's terminal are filtered out; colours pass")
    func escapeFilter() {
        let output = underTerminal(["printf", "A\\033]52;c;cHduZWQ=\\007\\033[21t\\033[31mRED\\033[0mB"])
        #expect(output.contains("\u{1b}[31mRED\u{1b}[0m"), "\(Array(output.utf8))")
        #expect(!output.contains("]52;"), "clipboard write reached the caller's terminal")
        #expect(!output.contains("[21t"), "title report request reached the caller's terminal")
    }

    @Test("job control works in an interactive shell")
    func jobControl() {
        let output = underTerminal(["bash", "-ic", "sleep 5 & jobs; kill %1; echo JOBS-DONE"])
        #expect(output.contains("[1]"), "\(output)")
        #expect(output.contains("JOBS-DONE"))
        #expect(!output.contains("no job control"), "\(output)")
    }
}
