// Processes the sandbox's pid 1 forks on the parent's request: `warden agent attach` and
// `terminals` (R11). They are children of pid 1, so they are inside every layer the workload is
// (namespaces, cgroup, Landlock domain, seccomp filter) and take the workload's identity; no
// host process ever joins the sandbox. Each gets its own pseudo-terminal in the sandbox's
// devpts, whose master goes to the parent for relaying (R12).
//
// Why C: pid 1 is a copy of a multi-threaded Swift process; the rules of child.c apply here
// (raw syscalls, no allocation, no locks, no stdio).
#define _GNU_SOURCE
#include "shim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

// pid 1's private memory (a copy of the parent's): the request being served and the live
// spawned processes by tag. Only pid 1 and, after clone, its own copy in a child use them.
static struct wd_spawn_request request;
static char *spawn_argv[WD_SPAWN_MAX_ARGS + 1];
static char *spawn_envp[1024 + WD_SPAWN_MAX_ENV + 1];
static struct {
    pid_t pid;
    int64_t tag;
} live[WD_SPAWN_MAX_LIVE];

__attribute__((noreturn)) static void leave(int code) {
    syscall(SYS_exit_group, code);
    __builtin_unreachable();
}

static void answer(int control, uint32_t type, int64_t tag, int err, int64_t v1, int64_t v2, int fd) {
    struct wd_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = type;
    msg.err = err;
    msg.value[WD_SPAWN_TAG] = tag;
    msg.value[1] = v1;
    msg.value[2] = v2;
    wd_send_msg(control, &msg, fd);
}

// Splits the request's strings into argv and the environment: the workload's environment, each
// name the request sets replaced by the request's entry. Returns 0 or an errno.
static int parse(const struct wd_plan *plan, size_t length) {
    int64_t envc = request.head.value[WD_SPAWN_ENVC], argc = request.head.value[WD_SPAWN_ARGC];
    if (envc < 0 || envc > WD_SPAWN_MAX_ENV || argc < 1 || argc > WD_SPAWN_MAX_ARGS) return EINVAL;
    if (length < sizeof request.head) return EINVAL;
    const char *cursor = request.strings, *end = request.strings + (length - sizeof request.head);
    char *overrides[WD_SPAWN_MAX_ENV];
    for (int64_t i = 0; i < envc + argc; i++) {
        const char *nul = cursor < end ? memchr(cursor, 0, (size_t)(end - cursor)) : NULL;
        if (!nul) return EINVAL;
        if (i < envc) {
            if (!strchr(cursor, '=') || cursor[0] == '=') return EINVAL;
            overrides[i] = (char *)cursor;
        } else {
            spawn_argv[i - envc] = (char *)cursor;
        }
        cursor = nul + 1;
    }
    spawn_argv[argc] = NULL;
    size_t n = 0;
    for (size_t j = 0; plan->envp[j] && n < 1024; j++) {
        const char *entry = plan->envp[j];
        size_t name = (size_t)(strchr(entry, '=') - entry);
        int replaced = 0;
        for (int64_t i = 0; i < envc && !replaced; i++)
            replaced = strncmp(overrides[i], entry, name + 1) == 0;
        if (!replaced) spawn_envp[n++] = (char *)entry;
    }
    for (int64_t i = 0; i < envc; i++) spawn_envp[n++] = overrides[i];
    spawn_envp[n] = NULL;
    return 0;
}

// Reports a failure before the terminal exists and ends the process.
__attribute__((noreturn)) static void refuse(int control, int64_t tag, int err) {
    answer(control, WD_MSG_SPAWN_FAILED, tag, err, 0, 0, -1);
    leave(126);
}

// The spawned process: the workload's identity, a fresh pseudo-terminal as its controlling
// terminal and standard descriptors, the workload's directory, then exec.
__attribute__((noreturn)) static void spawned_main(const struct wd_plan *plan, int control) {
    int64_t tag = request.head.value[WD_SPAWN_TAG];
    if (wd_reset_signals() < 0) refuse(control, tag, errno);
    uint32_t step;
    int32_t index;
    if (wd_take_workload_identity(plan, &step, &index) < 0) refuse(control, tag, errno);
    // Nobody in the sandbox may attach to this process while it still holds the channel.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) refuse(control, tag, errno);
    // Opened with the agent's ids, so the terminal belongs to the agent user.
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) refuse(control, tag, errno);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) refuse(control, tag, errno);
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) refuse(control, tag, errno);
    struct winsize size;
    memset(&size, 0, sizeof size);
    size.ws_row = (unsigned short)request.head.value[WD_SPAWN_ROWS];
    size.ws_col = (unsigned short)request.head.value[WD_SPAWN_COLS];
    if (size.ws_row && size.ws_col && ioctl(slave, TIOCSWINSZ, &size) < 0) refuse(control, tag, errno);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) refuse(control, tag, errno);
    for (int std = 0; std < 3; std++)
        if (dup2(slave, std) < 0) refuse(control, tag, errno);
    close(slave);
    umask(022);
    if (chdir(plan->cwd) < 0) refuse(control, tag, errno);
    answer(control, WD_MSG_SPAWNED, tag, 0, (int64_t)getpid(), 0, master);
    close(master);
    // The channel and everything else above 2 closes at exec.
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    int err = wd_exec_search(spawn_argv, spawn_envp, plan->exec_path);
    static const char why[] = "warden: the command could not be started in the sandbox\r\n";
    ssize_t ignored = write(2, why, sizeof why - 1);
    (void)ignored;
    leave(err == ENOENT ? 127 : 126);
}

int wd_init_spawn_receive(const struct wd_plan *plan, int control) {
    memset(&request, 0, sizeof request);
    ssize_t n = recv(control, &request, sizeof request, MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    if ((size_t)n < sizeof request.head || request.head.type != WD_MSG_SPAWN) return 0;
    int64_t tag = request.head.value[WD_SPAWN_TAG];
    int slot = -1;
    for (int i = 0; i < WD_SPAWN_MAX_LIVE && slot < 0; i++)
        if (live[i].pid == 0) slot = i;
    if (slot < 0) {
        answer(control, WD_MSG_SPAWN_FAILED, tag, EAGAIN, 0, 0, -1);
        return 0;
    }
    int err = parse(plan, (size_t)n);
    if (err) {
        answer(control, WD_MSG_SPAWN_FAILED, tag, err, 0, 0, -1);
        return 0;
    }
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) {
        answer(control, WD_MSG_SPAWN_FAILED, tag, errno, 0, 0, -1);
        return 0;
    }
    if (pid == 0) spawned_main(plan, control);
    live[slot].pid = (pid_t)pid;
    live[slot].tag = tag;
    return 0;
}

void wd_init_spawn_reaped(int control, pid_t pid, int status) {
    for (int i = 0; i < WD_SPAWN_MAX_LIVE; i++) {
        if (live[i].pid != pid) continue;
        answer(control, WD_MSG_SPAWN_EXITED, live[i].tag, 0, pid, status, -1);
        live[i].pid = 0;
        return;
    }
}
