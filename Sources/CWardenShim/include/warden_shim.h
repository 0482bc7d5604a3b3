// Warden's only hand-written C target.
//
// Why C: everything here runs in a child created by clone(2) from a multi-threaded Swift
// process, before the workload is exec'd. Between clone and exec only async-signal-safe code
// may run: no allocation, no locks, no Swift runtime. The child also stays alive as the
// sandbox's pid 1, so its loop must not depend on anything the parent's threads might hold.
// A few helpers exist because libc has no wrapper (open_tree, move_mount, mount_setattr,
// fsopen/fsconfig/fsmount, landlock_*, clone3, pidfd_*), or because the kernel API is made
// of macros Swift cannot import (CMSG_*, SCM_RIGHTS).
//
// Every exported symbol carries the `wd_` prefix.
#ifndef WARDEN_SHIM_H
#define WARDEN_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/vfs.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <sys/mman.h>
#include <linux/filter.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/netlink.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------------------------
// Mount plan: operations the child performs, in order, inside the fresh root (a tmpfs). Every
// path is relative to the new root and resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so a symlink planted in an agent-writable tree
// can never redirect a mount (R14).

enum wd_op_kind {
    WD_OP_MKDIR = 1,        // mkdir path (mode)
    WD_OP_SYMLINK = 2,      // symlink path -> arg
    WD_OP_WRITE_FILE = 3,   // create path with data[0..<data_len] (mode)
    WD_OP_ATTACH = 4,       // attach detached mount `fd` at path (created as dir or file)
    WD_OP_MOUNT = 5,        // new filesystem `arg` (fstype) with options `data` at path
    WD_OP_REBIND = 6,       // clone the mount at `arg` (in the new root) onto path
    WD_OP_SETATTR = 7,      // mount_setattr(path, attr_set, attr_clr)
    WD_OP_SELF_BIND = 8,    // bind path onto itself (makes it a mount point), then attr_set
    WD_OP_BIND_HOST = 9,    // like ATTACH, but the child clones the host path `arg` itself (rootless:
                            // only the child may clone mounts of its own mount namespace)
    WD_OP_OVERLAY = 10,     // overlayfs at path: lower layers data[0..<data_len] (NUL-separated
                            // paths in the new root, topmost first), upper+work under `arg`
                            // (NULL: read-only, or a tmpfs with WD_OPF_SCRATCH owned by the
                            // workload, root mode `mode`); staged layers are unmounted afterwards
};

#define WD_OPF_DIR 0x1          // the mount point to create is a directory
#define WD_OPF_RECURSIVE 0x2    // apply to the whole subtree
#define WD_OPF_OPTIONAL 0x4     // a missing path is skipped, not an error
#define WD_OPF_CREATE 0x8       // create the mount point if missing (dir or file per WD_OPF_DIR)
#define WD_OPF_SCRATCH 0x10     // overlay: a fresh tmpfs upper whose changes are discarded
#define WD_OPF_OWNED 0x20       // write file: owned by uid `fd`, as are the directories made for it below `arg`

struct wd_op {
    uint32_t kind;
    uint32_t flags;
    const char *path;
    const char *arg;
    const char *data;
    size_t data_len;
    uint32_t mode;
    int32_t fd;
    uint64_t attr_set;
    uint64_t attr_clr;
};

struct wd_landlock_rule {
    const char *path;       // absolute path inside the sandbox
    uint64_t access;        // LANDLOCK_ACCESS_FS_* granted beneath path
};

struct wd_rlimit {
    int32_t resource;
    uint64_t soft;
    uint64_t hard;
};

// Everything the child needs, prepared by the parent before clone. The child only reads it
// (its copy-on-write view of the parent's memory), never allocates.
struct wd_plan {
    int32_t control_fd;             // child's end of the SOCK_SEQPACKET control channel

    // Identity inside the user namespace.
    uint32_t init_uid, init_gid;    // pid 1
    uint32_t agent_uid, agent_gid;  // the workload
    int32_t set_groups;             // call setgroups(0) (not allowed when setgroups is denied)

    int32_t new_cgroupns;           // unshare(CLONE_NEWCGROUP): the child is born in its cgroup
    int32_t loopback_up;            // bring `lo` up in the new network namespace

    const char *staging_dir;        // where the new root tmpfs is attached before pivot_root
    const char *root_options;       // tmpfs options of the new root
    const struct wd_op *ops;
    size_t op_count;
    const char *hostname;
    const char *cwd;                // working directory of the workload

    // Terminal: when want_pty is set, pid 1 opens a pseudo-terminal in the sandbox's own
    // devpts, sends the master to the parent and gives the slave to the workload's
    // standard descriptors listed in pty_stdio_mask (bit 0 = stdin, 1 = stdout, 2 = stderr).
    int32_t want_pty;
    uint32_t pty_stdio_mask;
    struct winsize winsize;
    // Standard descriptors replaced by /dev/null in the workload (a caller's terminal that
    // must not be handed in when no pseudo-terminal is relayed).
    uint32_t null_stdio_mask;

    // Landlock (abi 0 = not applied).
    int32_t landlock_abi;
    uint64_t landlock_handled_fs;
    uint64_t landlock_scoped;
    const struct wd_landlock_rule *landlock_rules;
    size_t landlock_rule_count;

    // seccomp: programs compiled by the parent. The baseline (optional) is installed first
    // without a listener; the main filter is installed last with a listener that is sent to
    // the parent so that every denial is answered (and counted) by the supervisor.
    const struct sock_filter *seccomp_baseline;
    size_t seccomp_baseline_len;
    const struct sock_filter *seccomp_main;
    size_t seccomp_main_len;

    // Capabilities: opaque libcap cap_t objects prepared by the parent.
    void *caps_init;                // pid 1 after the workload started (CAP_KILL only)
    void *caps_empty;               // the workload's sets (empty, or the install profile's few)
    uint32_t securebits;
    uint64_t bounding_keep;         // capabilities left in the bounding set (0: none)

    const struct wd_rlimit *rlimits;
    size_t rlimit_count;

    const char *const *argv;        // workload argv (argv[0] is the command)
    const char *const *envp;        // the workload's whole environment
    const char *exec_path;          // PATH used to find argv[0] when it has no slash

    // pid 1 forks processes the parent asks for (WD_MSG_SPAWN: attach, terminals) inside every
    // layer, with the workload's identity; it then keeps CAP_SETUID/CAP_SETGID to give it.
    int32_t spawn_enabled;
};

// ---------------------------------------------------------------------------------------------
// Control channel messages (child -> parent, except WD_MSG_GO).

enum wd_msg_type {
    WD_MSG_GO = 1,                // parent -> child: ids mapped, cgroups joined
    WD_MSG_SETUP_FAILED = 2,      // step, index, err
    WD_MSG_PTY_MASTER = 3,        // carries one descriptor
    WD_MSG_SECCOMP_LISTENER = 4,  // carries one descriptor
    WD_MSG_WORKLOAD_READY = 5,    // the workload is about to exec; values = its credentials
    WD_MSG_EXEC_FAILED = 6,       // err
    WD_MSG_WORKLOAD_EXITED = 7,   // value[0] = wait status
    WD_MSG_SPAWN = 8,             // parent -> pid 1: fork a process (struct wd_spawn_request)
    WD_MSG_SPAWNED = 9,           // value[TAG], value[1] = pid; carries the pseudo-terminal master
    WD_MSG_SPAWN_FAILED = 10,     // value[TAG], err
    WD_MSG_SPAWN_EXITED = 11,     // value[TAG], value[1] = pid, value[2] = wait status
};

// Steps, so the parent can name exactly what failed.
enum wd_step {
    WD_STEP_WAIT_GO = 1,
    WD_STEP_SETGROUPS,
    WD_STEP_SETGID,
    WD_STEP_SETUID,
    WD_STEP_CGROUPNS,
    WD_STEP_SETSID,
    WD_STEP_MOUNT_PRIVATE,
    WD_STEP_ROOT_TMPFS,
    WD_STEP_OP,                 // index = op index
    WD_STEP_PIVOT_ROOT,
    WD_STEP_ROOT_READONLY,
    WD_STEP_HOSTNAME,
    WD_STEP_LOOPBACK,
    WD_STEP_PTY,
    WD_STEP_LANDLOCK_RULESET,
    WD_STEP_LANDLOCK_RULE,      // index = rule index
    WD_STEP_LANDLOCK_RESTRICT,
    WD_STEP_NO_NEW_PRIVS,
    WD_STEP_DUMPABLE,
    WD_STEP_SECUREBITS,
    WD_STEP_CAP_BOUNDING,
    WD_STEP_CAP_AMBIENT,
    WD_STEP_CLOSE_FDS,
    WD_STEP_SECCOMP_BASELINE,
    WD_STEP_SECCOMP_MAIN,
    WD_STEP_SEND_FD,
    WD_STEP_FORK_WORKLOAD,
    WD_STEP_INIT_CAPS,
    WD_STEP_W_SIGNALS,
    WD_STEP_W_TERMINAL,
    WD_STEP_W_RLIMIT,           // index = rlimit index
    WD_STEP_W_SETGROUPS,
    WD_STEP_W_SETGID,
    WD_STEP_W_SETUID,
    WD_STEP_W_CAPS,
    WD_STEP_W_CHDIR,
    WD_STEP_COUNT
};

struct wd_msg {
    uint32_t type;
    uint32_t step;
    int32_t index;
    int32_t err;
    int64_t value[8];
};

// Indices into wd_msg.value for WD_MSG_WORKLOAD_READY.
enum {
    WD_READY_CAP_EFFECTIVE = 0,
    WD_READY_CAP_PERMITTED = 1,
    WD_READY_CAP_INHERITABLE = 2,
    WD_READY_CAP_BOUNDING = 3,
    WD_READY_CAP_AMBIENT = 4,
    WD_READY_SECUREBITS = 5,
    WD_READY_NO_NEW_PRIVS = 6,
    WD_READY_UID_GID = 7,       // uid << 32 | gid
};

// A spawn request: the header's values say how many strings follow (first the environment
// entries that override the workload's, then argv) and the terminal's size; `tag` comes back
// in every answer about that process.
enum {
    WD_SPAWN_TAG = 0,
    WD_SPAWN_ENVC = 1,
    WD_SPAWN_ARGC = 2,
    WD_SPAWN_ROWS = 3,
    WD_SPAWN_COLS = 4,
};
#define WD_SPAWN_STRINGS 4096
#define WD_SPAWN_MAX_ENV 8
#define WD_SPAWN_MAX_ARGS 32
#define WD_SPAWN_MAX_LIVE 16

struct wd_spawn_request {
    struct wd_msg head;
    char strings[WD_SPAWN_STRINGS];   // NUL-terminated, back to back
};

// Exit status pid 1 uses when setup failed (the parent reports the step from the message).
#define WD_CHILD_SETUP_EXIT 120

// ---------------------------------------------------------------------------------------------
// Parent-side entry points.

// Clones the sandbox child with the given namespace flags. The child runs the plan and never
// returns. Returns the child's pid (and a pidfd) or -1 with errno set.
// With cgroup_fd >= 0 (cgroup v2) the child is created directly in that cgroup
// (CLONE_INTO_CGROUP), so it never has to be migrated.
pid_t wd_spawn_sandbox(const struct wd_plan *plan, uint64_t clone_flags, int cgroup_fd, int *pidfd_out);

// Starts `path` as a daemon: in a new session, reparented away from the caller (fork, setsid,
// fork), standard input from `in_fd`, output and error to `out_fd`, every other descriptor
// closed, signal mask and dispositions reset. Returns 0 once the intermediate process has
// exited, -1 with errno otherwise. The caller keeps no child to reap.
int wd_spawn_detached(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd);


// Creates a user namespace holding exactly the given id maps ("inside outside count\n" lines)
// and returns a descriptor to it (for idmapped mounts), or -1 with errno set.
int wd_make_userns(const char *uid_map, const char *gid_map);

// Sends one message with an optional descriptor (fd < 0 for none). Returns 0 or -1/errno.
int wd_send_msg(int sock, const struct wd_msg *msg, int fd);
// Receives one message and at most one descriptor (*fd_out = -1 when none). Returns the number
// of bytes received (0 at end of stream) or -1/errno.
ssize_t wd_recv_msg(int sock, struct wd_msg *msg, int *fd_out);
// Any bytes with at most one descriptor (SCM_RIGHTS; fd < 0 sends none). Returns the bytes
// sent or received; a received descriptor is close-on-exec, -1 when none came.
ssize_t wd_send_fd(int sock, const void *buf, size_t len, int fd);
ssize_t wd_recv_fd(int sock, void *buf, size_t len, int *fd_out);

// Thin wrappers for syscalls glibc 2.36 does not wrap.
int wd_open_tree(int dirfd, const char *path, unsigned int flags);
int wd_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                     uint64_t attr_clr, uint64_t propagation, int userns_fd);
int wd_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
// What statx reports about a file, without following a final symlink: the identity, the type,
// when its inode last changed (ctime, which no unprivileged caller can set) and when it was
// created (btime, when the file system records it).
struct wd_file_times {
    uint64_t dev;
    uint64_t ino;
    uint32_t mode;
    int32_t has_btime;
    int64_t ctime_sec;
    int64_t ctime_nsec;
    int64_t btime_sec;
    int64_t btime_nsec;
};
int wd_file_times(int dirfd, const char *name, struct wd_file_times *out);
// CLOCK_REALTIME_COARSE: the clock the kernel stamps ctime from.
int64_t wd_coarse_realtime_ns(void);

// getdents64: fills buf with struct linux_dirent64 records; returns bytes read, 0 at the end.
long wd_getdents(int fd, void *buf, unsigned long size);

// renameat2(RENAME_NOREPLACE): fails with EEXIST instead of replacing the target.
int wd_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int wd_pidfd_send_signal(int pidfd, int sig);
// pidfd_open(2): a descriptor for an existing process (close-on-exec).
int wd_pidfd_open(pid_t pid, unsigned flags);
// waitid(P_PIDFD): returns 0 and the si_code (CLD_EXITED, CLD_KILLED, ...) and status.
int wd_waitid_pidfd(int pidfd, int *code, int *status);
int wd_landlock_abi(void);
int wd_seccomp_notif_sizes(uint16_t *notif, uint16_t *resp);
// prctl(2) is variadic in glibc, which Swift cannot call.
int wd_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
ssize_t wd_getrandom(void *buffer, size_t length);
// The GNU build ID of the running program (0 bytes when it has none).
size_t wd_build_id(uint8_t *out, size_t capacity);
// An anonymous close-on-exec memory file (memfd_create needs _GNU_SOURCE).
int wd_memfd(const char *name);

// prctl options used from Swift, as plain constants.
enum {
    WD_PR_SET_DUMPABLE = 4,
};

// Name of the calling process shown in /proc/PID/cmdline; the child replaces Warden's own
// command line (which names the caller's options and environment) with this string.
void wd_set_init_title(const char *title);

// Network namespaces (netns.c). setns(2) for the calling thread only.
int wd_setns(int fd, int nstype);
// In the calling thread's network namespace: `lo` up and default routes (IPv4 and IPv6) through
// it, so that connect() to any address reaches the nftables redirect instead of failing.
int wd_net_capture_routes(void);
// The inode of the network namespace a socket belongs to (ioctl SIOCGSKNS), for R21.
int wd_socket_netns_inode(int fd, uint64_t *inode);
// splice(2) and pipe2(2) need _GNU_SOURCE, which Swift's Glibc module is not built with.
ssize_t wd_splice(int fd_in, int fd_out, size_t length, unsigned int flags);
int wd_pipe2(int fds[2], int flags);
// accept4(2) also needs _GNU_SOURCE: accepts non-blocking and close-on-exec in one call.
int wd_accept4(int fd, int flags);
// CLONE_NEWNET for wd_setns.
enum { WD_CLONE_NEWNET = 0x40000000 };
// Grows a pipe's buffer (F_SETPIPE_SZ is a GNU fcntl; fcntl is variadic).
int wd_set_pipe_size(int fd, int size);
// Flags for wd_splice.
enum {
    WD_SPLICE_F_MOVE = 1,
    WD_SPLICE_F_NONBLOCK = 2,
    WD_SPLICE_F_MORE = 4,
};

#ifdef __cplusplus
}
#endif
#endif
