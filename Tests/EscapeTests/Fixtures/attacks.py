#!/usr/bin/env python3
"""Escape attempts run INSIDE a Warden sandbox by the escape suite.

Each attack prints one line: "ALLOWED ..." when the operation succeeded, "BLOCKED <ERRNO>"
when the kernel refused it. The Swift tests assert on these lines and on the effects outside.
x86_64 syscall numbers are used directly so that no libc wrapper hides what is attempted.
"""
import ctypes
import errno
import fcntl
import os
import socket
import sys
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
MASK = (1 << 64) - 1


def raw(nr, *args):
    """syscall(nr, args...) with every argument passed as a full 64-bit value."""
    converted = []
    for arg in args:
        if isinstance(arg, (bytes, ctypes.Array)) or hasattr(arg, "_type_"):
            converted.append(ctypes.cast(arg, ctypes.c_void_p))
        else:
            converted.append(ctypes.c_ulong(arg & MASK))
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *converted)
    return result, ctypes.get_errno()


def report(result, err, detail=""):
    if result >= 0:
        print(f"ALLOWED {detail}".strip())
    else:
        print(f"BLOCKED {errno.errorcode.get(err, err)}")


def attempt(function):
    try:
        value = function()
        print(f"ALLOWED {value if value is not None else ''}".strip())
    except OSError as error:
        print(f"BLOCKED {errno.errorcode.get(error.errno, error.errno)}")


def buffer(size):
    return ctypes.create_string_buffer(size)


def ptrace():
    child = os.fork()
    if child == 0:
        os.execv("/bin/sleep", ["sleep", "5"])
    result, err = raw(101, 16, child, 0, 0)  # PTRACE_ATTACH
    os.kill(child, 9)
    os.waitpid(child, 0)
    report(result, err)


ATTACKS = {
    "ptrace": ptrace,
    "process_vm_readv": lambda: report(*raw(310, os.getpid(), buffer(16), 1, buffer(16), 1, 0)),
    "mount": lambda: report(*raw(165, b"none", b"/tmp", b"tmpfs", 0, 0)),
    "umount": lambda: report(*raw(166, b"/proc", 2)),
    "pivot_root": lambda: report(*raw(155, b"/tmp", b"/tmp")),
    "chroot": lambda: report(*raw(161, b"/tmp")),
    "unshare_user": lambda: report(*raw(272, 0x10000000)),
    "unshare_mount": lambda: report(*raw(272, 0x00020000)),
    "setns": lambda: report(*raw(308, os.open("/proc/self/ns/net", os.O_RDONLY), 0)),
    "clone_newuser": lambda: clone_newuser(),
    "clone3": lambda: report(*raw(435, buffer(88), 88)),
    "keyctl": lambda: report(*raw(250, 0, -3, 1)),
    "add_key": lambda: report(*raw(248, b"user", b"warden", b"secret", 6, -3)),
    "bpf": lambda: report(*raw(321, 0, buffer(128), 128)),
    "perf_event_open": lambda: report(*raw(298, buffer(128), 0, -1, -1, 0)),
    "userfaultfd": lambda: report(*raw(323, 0)),
    "io_uring_setup": lambda: report(*raw(425, 8, buffer(120))),
    "init_module": lambda: report(*raw(175, buffer(64), 64, b"")),
    "finit_module": lambda: report(*raw(313, os.open("/etc/hostname", os.O_RDONLY), b"", 0)),
    "kexec_load": lambda: report(*raw(246, 0, 0, 0, 0)),
    "open_by_handle_at": lambda: report(*raw(304, os.open("/", os.O_RDONLY), buffer(64), 0)),
    "name_to_handle_at": lambda: report(*raw(303, -100, b"/", buffer(64), buffer(8), 0)),
    "swapon": lambda: report(*raw(167, b"/tmp/swap", 0)),
    "reboot": lambda: report(*raw(169, 0xfee1dead, 672274793, 0x4321fedc, 0)),
    "settimeofday": lambda: report(*raw(164, buffer(16), 0)),
    "clock_settime": lambda: report(*raw(227, 0, buffer(16))),
    "iopl": lambda: report(*raw(172, 3)),
    "acct": lambda: report(*raw(163, b"/tmp/acct")),
    "openat2": lambda: report(*raw(437, -100, b"/tmp", buffer(24), 24)),
    "x32_getpid": lambda: report(*raw(0x40000000 | 39)),
    "raw_socket": lambda: attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).fileno()),
    "packet_socket": lambda: attempt(lambda: socket.socket(17, socket.SOCK_RAW, 0).fileno()),
    "vsock_socket": lambda: attempt(lambda: socket.socket(40, socket.SOCK_STREAM, 0).fileno()),
    "vsock_socket_high_bits": lambda: report(*raw(41, 40 | (1 << 32), 1, 0)),
    "netlink_audit_socket": lambda: report(*raw(41, 16, 3, 9)),
    "unix_socket": lambda: attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).fileno()),
    "inet_socket": lambda: attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).fileno()),
    "tiocsti": lambda: attempt(lambda: fcntl.ioctl(0, 0x5412, b"X")),
    "tiocsti_high_bits": lambda: report(*raw(16, 0, 0x5412 | (1 << 32), b"X")),
    "tioclinux": lambda: report(*raw(16, 0, 0x541C, buffer(8))),
    "chmod_setuid": lambda: chmod_setuid(),
    "create_setuid": lambda: attempt(lambda: os.close(os.open("/workspace/created-suid", os.O_CREAT | os.O_WRONLY, 0o4755))),
    "mknod_setuid": lambda: attempt(lambda: os.mknod("/workspace/mknod-suid", 0o100000 | 0o4755)),
    "proc_exe": lambda: attempt(lambda: os.open("/proc/1/exe", os.O_RDONLY)),
    "proc_mem": lambda: attempt(lambda: os.open("/proc/1/mem", os.O_RDONLY)),
    "proc_mem_write": lambda: attempt(lambda: os.open("/proc/1/mem", os.O_WRONLY)),
    "proc_environ": lambda: attempt(lambda: open("/proc/1/environ", "rb").read()),
    "proc_sys_write": lambda: attempt(lambda: open("/proc/sys/kernel/core_pattern", "w").write("|/workspace/pwn")),
    "sysrq_write": lambda: attempt(lambda: open("/proc/sysrq-trigger", "w").write("h")),
    "kcore_read": lambda: attempt(lambda: len(open("/proc/kcore", "rb").read(16))),
    "threads": lambda: threads(),
}


def clone_newuser():
    result, err = raw(56, 0x10000000 | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD)
    if result == 0:
        os._exit(0)
    report(result, err)


def chmod_setuid():
    path = "/workspace/chmod-suid"
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n")
    attempt(lambda: os.chmod(path, 0o4755))


def threads():
    done = []
    workers = [threading.Thread(target=lambda: done.append(1)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(f"THREADS {len(done)}")


def fork_bomb(limit):
    children, failures = [], 0
    for _ in range(limit):
        try:
            pid = os.fork()
        except OSError:
            failures += 1
            continue
        if pid == 0:
            import time
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    print(f"FORKED {len(children)} FAILED {failures}")
    sys.stdout.flush()
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def memory_bomb(megabytes):
    chunks = []
    for index in range(megabytes):
        chunks.append(bytearray(1 << 20))
        chunks[-1][::4096] = b"x" * len(chunks[-1][::4096])
        if index % 32 == 0:
            print(f"ALLOCATED {index + 1}", flush=True)
    print(f"ALLOCATED {megabytes}")


if __name__ == "__main__":
    name = sys.argv[1]
    if name == "fork_bomb":
        fork_bomb(int(sys.argv[2]))
    elif name == "memory_bomb":
        memory_bomb(int(sys.argv[2]))
    else:
        ATTACKS[name]()
