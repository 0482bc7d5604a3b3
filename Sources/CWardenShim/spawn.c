// Process creation. Why C: the child of clone3 runs on a copy of a multi-threaded Swift
// process and must never return into Swift code.
#define _GNU_SOURCE
#include "shim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long raw_clone3(uint64_t flags, int *pidfd, int cgroup_fd) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    if (pidfd) {
        args.flags |= CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
    }
    return syscall(SYS_clone3, &args, sizeof args);
}

pid_t wd_spawn_sandbox(const struct wd_plan *plan, uint64_t clone_flags, int cgroup_fd, int *pidfd_out) {
    int pidfd = -1;
    long pid = raw_clone3(clone_flags, &pidfd, cgroup_fd);
    if (pid == 0) wd_child_main(plan);
    if (pid < 0) return -1;
    *pidfd_out = pidfd;
    return (pid_t)pid;
}

static int write_proc_file(pid_t pid, const char *name, const char *content) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(content);
    ssize_t n = write(fd, content, len);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

// The helper only has to exist until the parent has written its maps and opened its
// namespace. It shares the parent's memory (CLONE_VM: no page tables copied) and runs on its own
// small stack, doing nothing but a raw read and a raw exit.
// One helper at a time: Warden creates one such namespace per run, from one thread.
static char userns_helper_stack[16384] __attribute__((aligned(16)));

// The helper shares the parent's memory, including its thread-local errno: it must not call
// anything that writes errno, so it issues its three syscalls directly.
static long helper_syscall(long nr, long a, long b, long c) {
#if defined(__x86_64__)
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
#else
#error "unsupported architecture"
#endif
}

static int userns_helper(void *argument) {
    const int *hold = argument;
    char byte;
    // Its own copy of the write end would keep the pipe open forever: close it first.
    helper_syscall(SYS_close, hold[1], 0, 0);
    while (helper_syscall(SYS_read, hold[0], (long)&byte, 1) == -EINTR) {}
    helper_syscall(SYS_exit, 0, 0, 0);
    return 0;
}

int wd_make_userns(const char *uid_map, const char *gid_map) {
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) != 0) return -1;
    long pid = clone(userns_helper, userns_helper_stack + sizeof userns_helper_stack,
                     CLONE_VM | CLONE_NEWUSER | SIGCHLD, hold);
    close(hold[0]);
    if (pid < 0) {
        int saved = errno;
        close(hold[1]);
        errno = saved;
        return -1;
    }
    int nsfd = -1;
    int saved = 0;
    if (write_proc_file((pid_t)pid, "uid_map", uid_map) != 0 ||
        write_proc_file((pid_t)pid, "gid_map", gid_map) != 0) {
        saved = errno;
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        nsfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0) saved = errno;
    }
    close(hold[1]);
    while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR) {}
    if (nsfd < 0) errno = saved;
    return nsfd;
}

int wd_reset_signals(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

// Between fork and execve only async-signal-safe calls: this is a copy of a threaded process.
int wd_spawn_detached(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd) {
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) {
        if (wd_reset_signals() < 0 || setsid() < 0) _exit(126);
        pid_t daemon = fork();
        if (daemon < 0) _exit(126);
        if (daemon > 0) _exit(0);
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) _exit(126);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        execve(path, argv, envp);
        _exit(127);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = ECHILD;
        return -1;
    }
    return 0;
}
