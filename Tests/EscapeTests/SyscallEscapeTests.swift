import Foundation
import Testing

/// Escape attempts through system calls, each run through the real binary in a real sandbox.
/// An attack passes only if the call was refused inside AND (for seccomp refusals) the
/// supervisor counted the denial by name in the manifest.
@Suite("Escape: system calls", .enabled(if: Warden.isRoot))
struct SyscallEscapeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let attack: String
        let errno: String
        /// The syscall name the manifest must count (nil: refused by the kernel, not seccomp).
        let counted: String?
        var testDescription: String { attack }
    }

    static let cases: [Case] = [
        Case(attack: "ptrace", errno: "EPERM", counted: "ptrace"),
        Case(attack: "process_vm_readv", errno: "EPERM", counted: "process_vm_readv"),
        Case(attack: "mount", errno: "EPERM", counted: "mount"),
        Case(attack: "umount", errno: "EPERM", counted: "umount2"),
        Case(attack: "pivot_root", errno: "EPERM", counted: "pivot_root"),
        Case(attack: "chroot", errno: "EPERM", counted: "chroot"),
        Case(attack: "unshare_user", errno: "EPERM", counted: "unshare"),
        Case(attack: "unshare_mount", errno: "EPERM", counted: "unshare"),
        Case(attack: "setns", errno: "EPERM", counted: "setns"),
        Case(attack: "clone_newuser", errno: "EPERM", counted: "clone"),
        Case(attack: "keyctl", errno: "EPERM", counted: "keyctl"),
        Case(attack: "add_key", errno: "EPERM", counted: "add_key"),
        Case(attack: "bpf", errno: "EPERM", counted: "bpf"),
        Case(attack: "perf_event_open", errno: "EPERM", counted: "perf_event_open"),
        Case(attack: "userfaultfd", errno: "EPERM", counted: "userfaultfd"),
        Case(attack: "io_uring_setup", errno: "EPERM", counted: "io_uring_setup"),
        Case(attack: "init_module", errno: "EPERM", counted: "init_module"),
        Case(attack: "finit_module", errno: "EPERM", counted: "finit_module"),
        Case(attack: "kexec_load", errno: "EPERM", counted: "kexec_load"),
        Case(attack: "open_by_handle_at", errno: "EPERM", counted: "open_by_handle_at"),
        Case(attack: "name_to_handle_at", errno: "EPERM", counted: "name_to_handle_at"),
        Case(attack: "swapon", errno: "EPERM", counted: "swapon"),
        Case(attack: "reboot", errno: "EPERM", counted: "reboot"),
        Case(attack: "settimeofday", errno: "EPERM", counted: "settimeofday"),
        Case(attack: "clock_settime", errno: "EPERM", counted: "clock_settime"),
        Case(attack: "iopl", errno: "EPERM", counted: "iopl"),
        Case(attack: "acct", errno: "EPERM", counted: "acct"),
        Case(attack: "raw_socket", errno: "EPERM", counted: nil),
        Case(attack: "packet_socket", errno: "EPERM", counted: "socket"),
        Case(attack: "vsock_socket", errno: "EPERM", counted: "socket"),
        Case(attack: "vsock_socket_high_bits", errno: "EPERM", counted: "socket"),
        Case(attack: "netlink_audit_socket", errno: "EPERM", counted: "socket"),
        Case(attack: "tiocsti_high_bits", errno: "EPERM", counted: "ioctl"),
        Case(attack: "tioclinux", errno: "EPERM", counted: "ioctl"),
        Case(attack: "x32_getpid", errno: "EPERM", counted: nil),
        // R7: clone3 and openat2 answer ENOSYS so the C library falls back to inspectable calls.
        Case(attack: "clone3", errno: "ENOSYS", counted: "clone3"),
        Case(attack: "openat2", errno: "ENOSYS", counted: "openat2"),
    ]

    @Test("refused and counted", arguments: cases)
    func refused(_ testCase: Case) {
        let (line, result) = attack(testCase.attack)
        #expect(line == "BLOCKED \(testCase.errno)", "stdout: \(result.stdout) stderr: \(result.stderr)")
        #expect(result.status == 0)
        if let name = testCase.counted {
            #expect((result.denials[name] ?? 0) >= 1, "denials: \(result.denials)")
        }
    }

    @Test("ordinary sockets and threads still work (no over-blocking)", arguments: ["unix_socket", "inet_socket"])
    func allowedSockets(_ name: String) {
        #expect(attack(name).line.hasPrefix("ALLOWED"))
    }

    @Test("threads start although clone3 is refused (glibc falls back to clone)")
    func threads() {
        let (line, result) = attack("threads")
        #expect(line == "THREADS 4", "stderr: \(result.stderr)")
    }

    @Test("an i386 system call through int 0x80 is refused and counted as foreign")
    func int80() {
        let workspace = Workspace()
        let binary = workspace.file("int80")
        try? FileManager.default.copyItem(atPath: Fixtures.path("int80"), toPath: binary)
        let result = Warden.run([], ["/workspace/int80"], in: workspace)
        #expect(result.lastLine == "-1", "i386 getpid must fail with -EPERM, got \(result.stdout)")
        #expect(result.denials["i386:getpid"] == 1, "denials: \(result.denials)")
    }
}
