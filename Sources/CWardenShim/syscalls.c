// Wrappers for syscalls that glibc 2.36 does not wrap, and descriptor passing (CMSG_* and
// SCM_RIGHTS are macros Swift cannot import). All of them are async-signal-safe: the child
// uses them between clone and exec.
#define _GNU_SOURCE
#include "shim_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

int wd_open_tree(int dirfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int wd_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                  unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

int wd_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                     uint64_t attr_clr, uint64_t propagation, int userns_fd) {
    struct wd_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clr;
    attr.propagation = propagation;
    attr.userns_fd = userns_fd < 0 ? 0 : (uint64_t)userns_fd;
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

int wd_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int wd_file_times(int dirfd, const char *name, struct wd_file_times *out) {
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) return -1;
    out->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    out->ino = sx.stx_ino;
    out->mode = sx.stx_mode;
    out->has_btime = (sx.stx_mask & STATX_BTIME) != 0;
    out->ctime_sec = sx.stx_ctime.tv_sec;
    out->ctime_nsec = sx.stx_ctime.tv_nsec;
    out->btime_sec = sx.stx_btime.tv_sec;
    out->btime_nsec = sx.stx_btime.tv_nsec;
    return 0;
}

int64_t wd_coarse_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long wd_getdents(int fd, void *buf, unsigned long size) {
    return syscall(SYS_getdents64, fd, buf, size);
}

int wd_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, 1u /* RENAME_NOREPLACE */);
}

int wd_pidfd_open(pid_t pid, unsigned flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

int wd_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int wd_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, WD_LANDLOCK_CREATE_RULESET_VERSION);
}

int wd_seccomp_notif_sizes(uint16_t *notif, uint16_t *resp) {
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return -1;
    *notif = sizes.seccomp_notif;
    *resp = sizes.seccomp_notif_resp;
    return 0;
}

ssize_t wd_send_fd(int sock, const void *buf, size_t len, int fd) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr hdr;
    memset(&hdr, 0, sizeof hdr);
    memset(&control, 0, sizeof control);
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    if (fd >= 0) {
        hdr.msg_control = control.buf;
        hdr.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&hdr);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &hdr, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno != EINTR) return -1;
    }
}

int wd_send_msg(int sock, const struct wd_msg *msg, int fd) {
    return wd_send_fd(sock, msg, sizeof *msg, fd) < 0 ? -1 : 0;
}

ssize_t wd_recv_fd(int sock, void *buf, size_t len, int *fd_out) {
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.buf;
    hdr.msg_controllen = sizeof control.buf;
    *fd_out = -1;
    ssize_t n;
    do {
        n = recvmsg(sock, &hdr, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&hdr); cmsg; cmsg = CMSG_NXTHDR(&hdr, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
            cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(fd_out, CMSG_DATA(cmsg), sizeof(int));
        }
    }
    if (hdr.msg_flags & MSG_CTRUNC) {
        // A descriptor we did not ask for was dropped by the kernel; treat as a protocol error.
        if (*fd_out >= 0) close(*fd_out);
        *fd_out = -1;
        errno = EPROTO;
        return -1;
    }
    return n;
}

ssize_t wd_recv_msg(int sock, struct wd_msg *msg, int *fd_out) {
    memset(msg, 0, sizeof *msg);
    return wd_recv_fd(sock, msg, sizeof *msg, fd_out);
}

int wd_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}

ssize_t wd_getrandom(void *buffer, size_t length) {
    return getrandom(buffer, length, 0);
}

int wd_memfd(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int wd_waitid_pidfd(int pidfd, int *code, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    for (;;) {
        if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &info, WEXITED) == 0) break;
        if (errno != EINTR) return -1;
    }
    *code = info.si_code;
    *status = info.si_status;
    return 0;
}
