// The sandbox child, from clone to exec, and its life as pid 1.
//
// Why C: this code runs in a copy of a multi-threaded Swift process. Only async-signal-safe
// operations are allowed: raw syscalls, no allocation, no locks, no stdio. Every failure is
// reported to the parent as (step, index, errno) over the control channel and ends the child.
#define _GNU_SOURCE
#include "shim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#define RESOLVE_SAFE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

static int control_fd = -1;
// Where the new root is attached before pivot_root (the plan's staging_dir).
static const char *staging_root = "/tmp";

// Credential changes as raw syscalls: glibc's setresuid/setresgid/setgroups broadcast the change to
// every thread it believes exists (__nptl_setxid), and this process is a copy of a multi-threaded
// one whose thread list it inherited. The raw call changes only this thread — the only one.
static int raw_setgroups_empty(void) { return (int)syscall(SYS_setgroups, 0, NULL); }
static int raw_setresgid(gid_t gid) { return (int)syscall(SYS_setresgid, gid, gid, gid); }
static int raw_setresuid(uid_t uid) { return (int)syscall(SYS_setresuid, uid, uid, uid); }

__attribute__((noreturn)) static void exit_now(int code) {
    syscall(SYS_exit_group, code);
    __builtin_unreachable();
}

__attribute__((noreturn)) static void fail(uint32_t step, int32_t index, int err) {
    struct wd_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WD_MSG_SETUP_FAILED;
    msg.step = step;
    msg.index = index;
    msg.err = err;
    wd_send_msg(control_fd, &msg, -1);
    exit_now(WD_CHILD_SETUP_EXIT);
}

#define CHECK(expr, step, index)                   \
    do {                                           \
        if ((expr) < 0) fail((step), (index), errno); \
    } while (0)

// ---------------------------------------------------------------------------------------------
// Path resolution inside the new root: never follows a symlink, never leaves the root.

static int open_safe(int dirfd, const char *path, int flags, uint64_t extra_resolve) {
    if (path == NULL || path[0] == '\0') path = ".";
    return wd_openat2(dirfd, path, (uint64_t)(flags | O_CLOEXEC), 0, RESOLVE_SAFE | extra_resolve);
}

// mkdir -p beneath dirfd, one component at a time; returns an O_PATH descriptor of the last one.
static int ensure_dir(int dirfd, const char *path, mode_t mode) {
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    int current = open_safe(dirfd, ".", O_PATH | O_DIRECTORY, 0);
    if (current < 0) return -1;
    char *component = buf;
    while (*component) {
        char *slash = strchr(component, '/');
        if (slash) *slash = '\0';
        if (*component != '\0') {
            if (mkdirat(current, component, mode) < 0 && errno != EEXIST) {
                int saved = errno;
                close(current);
                errno = saved;
                return -1;
            }
            int next = open_safe(current, component, O_PATH | O_DIRECTORY, 0);
            int saved = errno;
            close(current);
            if (next < 0) {
                errno = saved;
                return -1;
            }
            current = next;
        }
        if (!slash) break;
        component = slash + 1;
    }
    return current;
}

// Splits path into its parent (created when `create` is set) and leaf.
// A file written into the workload's home (canary credentials): it and the directories made
// for it below `op->arg` belong to the workload's uid (`op->fd`), so tools can add files
// beside it. The paths are Warden's own, in a tmpfs nothing else has touched yet.
static int own_file(int rootfd, int fd, const struct wd_op *op) {
    uid_t owner = (uid_t)op->fd;
    if (fchown(fd, owner, owner) != 0) return -1;
    size_t base = op->arg ? strlen(op->arg) : 0;
    char buf[PATH_MAX];
    size_t len = strlen(op->path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, op->path, len + 1);
    for (size_t i = base + 1; i < len; i++) {
        if (buf[i] != '/') continue;
        buf[i] = '\0';
        int rc = fchownat(rootfd, buf, owner, owner, AT_SYMLINK_NOFOLLOW);
        buf[i] = '/';
        if (rc != 0) return -1;
    }
    return 0;
}

static int open_parent(int rootfd, const char *path, int create, const char **leaf) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *leaf = path;
        return open_safe(rootfd, ".", O_PATH | O_DIRECTORY, 0);
    }
    char buf[PATH_MAX];
    size_t len = (size_t)(slash - path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len);
    buf[len] = '\0';
    *leaf = slash + 1;
    if (create) return ensure_dir(rootfd, buf, 0755);
    return open_safe(rootfd, buf, O_PATH | O_DIRECTORY, 0);
}

// Opens (and optionally creates) a mount point. Returns an O_PATH descriptor.
static int mount_point(int rootfd, const struct wd_op *op) {
    int is_dir = (op->flags & WD_OPF_DIR) != 0;
    if (op->flags & WD_OPF_CREATE) {
        if (is_dir) return ensure_dir(rootfd, op->path, 0755);
        const char *leaf;
        int parent = open_parent(rootfd, op->path, 1, &leaf);
        if (parent < 0) return -1;
        int fd = openat(parent, leaf, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(fd);
        } else if (errno != EEXIST) {
            int saved = errno;
            close(parent);
            errno = saved;
            return -1;
        }
        int target = open_safe(parent, leaf, O_PATH, 0);
        int saved = errno;
        close(parent);
        errno = saved;
        return target;
    }
    return open_safe(rootfd, op->path, O_PATH | (is_dir ? O_DIRECTORY : 0), 0);
}

static int attach(int mount_fd, int target_fd) {
    return wd_move_mount(mount_fd, "", target_fd, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

// Creates a detached filesystem from "key=value,flag,..." options (fsopen/fsconfig/fsmount).
static int make_filesystem(const char *fstype, const char *options, uint64_t attrs) {
    int fs = (int)syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    char buf[512];
    size_t len = options ? strlen(options) : 0;
    if (len >= sizeof buf) {
        close(fs);
        errno = E2BIG;
        return -1;
    }
    if (len) memcpy(buf, options, len);
    buf[len] = '\0';
    char *token = buf;
    while (token && *token) {
        char *comma = strchr(token, ',');
        if (comma) *comma = '\0';
        char *equals = strchr(token, '=');
        long rc;
        if (equals) {
            *equals = '\0';
            rc = syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, token, equals + 1, 0);
        } else {
            rc = syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, token, NULL, 0);
        }
        if (rc < 0) {
            int saved = errno;
            close(fs);
            errno = saved;
            return -1;
        }
        token = comma ? comma + 1 : NULL;
    }
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        int saved = errno;
        close(fs);
        errno = saved;
        return -1;
    }
    int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
    int saved = errno;
    close(fs);
    errno = saved;
    return mnt;
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

// Detaches a tree staged at `path` in the new root (seen at staging_root/path before pivot_root).
static int unmount_staged(const char *path) {
    char staged[PATH_MAX];
    size_t root_len = strlen(staging_root), path_len = strlen(path);
    if (root_len + path_len + 2 > sizeof staged) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(staged, staging_root, root_len);
    staged[root_len] = '/';
    memcpy(staged + root_len + 1, path, path_len + 1);
    return umount2(staged, MNT_DETACH | UMOUNT_NOFOLLOW);
}

// Appends "/proc/self/fd/N" to buf at *len (bounded); -1 when it does not fit.
static int append_fd_path(char *buf, size_t size, size_t *len, int fd) {
    static const char prefix[] = "/proc/self/fd/";
    char digits[12];
    int count = 0;
    do {
        digits[count++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd > 0 && count < (int)sizeof digits);
    if (*len + sizeof prefix + (size_t)count + 1 > size) {
        errno = E2BIG;
        return -1;
    }
    memcpy(buf + *len, prefix, sizeof prefix - 1);
    *len += sizeof prefix - 1;
    while (count > 0) buf[(*len)++] = digits[--count];
    buf[*len] = '\0';
    return 0;
}

// Hands a layer to overlayfs by descriptor (fsconfig FSCONFIG_SET_FD, Linux 6.13+) or, on
// older kernels, by its /proc/self/fd path, which resolves to the very directory opened.
static int set_layer(int fs, const char *key, int fd) {
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, NULL, fd) == 0) return 0;
    if (errno != EINVAL) return -1;
    char path[64];
    size_t len = 0;
    if (append_fd_path(path, sizeof path, &len, fd) < 0) return -1;
    return (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, path, 0);
}

// overlayfs from descriptors: the lower layers are paths in the new root (staged trees the
// parent made, idmapped so that their owners map into the sandbox, or the target's own
// content), never a path the workload wrote; each is opened beneath the new root first.
// user.* xattrs (userxattr) since trusted.* belongs to the initial namespace. Before Linux 6.8
// (no "lowerdir+"), the layers are given as one "lowerdir" list of /proc/self/fd paths.
static int overlay(int rootfd, const struct wd_op *op, const struct wd_plan *plan) {
    int layers[16];
    int count = 0, rc = 0;
    const char *cursor = op->data, *end = op->data + op->data_len;
    for (; cursor < end; cursor += strlen(cursor) + 1) {
        if (count == (int)(sizeof layers / sizeof layers[0])) {
            errno = E2BIG;
            rc = -1;
            break;
        }
        layers[count] = open_safe(rootfd, cursor, O_RDONLY | O_DIRECTORY, 0);
        if (layers[count] < 0) {
            rc = -1;
            break;
        }
        count++;
    }
    int fs = rc == 0 ? (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC) : -1;
    if (fs < 0) rc = -1;
    if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0);
    for (int i = 0; rc == 0 && i < count; i++) {
        rc = set_layer(fs, "lowerdir+", layers[i]);
        if (rc < 0 && i == 0 && errno == EINVAL) {
            char list[1024];
            size_t len = 0;
            rc = 0;
            for (int j = 0; rc == 0 && j < count; j++) {
                if (j > 0 && len + 2 < sizeof list) list[len++] = ':';
                rc = append_fd_path(list, sizeof list, &len, layers[j]);
            }
            if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir", list, 0);
            break;
        }
    }
    int base = -1;
    if (rc == 0 && (op->flags & WD_OPF_SCRATCH)) {
        base = make_filesystem("tmpfs", "mode=0755", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
        rc = base < 0 ? -1 : mkdirat(base, "upper", op->mode);
        if (rc == 0) rc = mkdirat(base, "work", 0700);
        if (rc == 0) rc = fchownat(base, "upper", plan->agent_uid, plan->agent_gid, AT_SYMLINK_NOFOLLOW);
    } else if (rc == 0 && op->arg) {
        base = open_safe(rootfd, op->arg, O_PATH | O_DIRECTORY, 0);
        rc = base < 0 ? -1 : 0;
    }
    if (rc == 0 && base >= 0) {
        int upper = openat(base, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int work = openat(base, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        rc = (upper < 0 || work < 0) ? -1 : 0;
        if (rc == 0) rc = set_layer(fs, "upperdir", upper);
        if (rc == 0) rc = set_layer(fs, "workdir", work);
        int saved = errno;
        if (upper >= 0) close(upper);
        if (work >= 0) close(work);
        errno = saved;
    }
    if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int mnt = rc == 0 ? (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, op->attr_set) : -1;
    int saved = errno;
    if (fs >= 0) close(fs);
    if (base >= 0) close(base);
    for (int i = 0; i < count; i++) close(layers[i]);
    if (mnt < 0) {
        errno = saved;
        return -1;
    }
    int target = mount_point(rootfd, op);
    rc = target < 0 ? -1 : attach(mnt, target);
    saved = errno;
    if (target >= 0) close(target);
    close(mnt);
    if (rc < 0) {
        errno = saved;
        return -1;
    }
    // The staged trees served as layers; they leave the sandbox's view (overlayfs holds them).
    for (cursor = op->data; cursor < end; cursor += strlen(cursor) + 1) {
        if (strcmp(cursor, op->path) != 0 && unmount_staged(cursor) < 0) return -1;
    }
    if (op->arg && !(op->flags & WD_OPF_SCRATCH) && unmount_staged(op->arg) < 0) return -1;
    return 0;
}

// One mount-plan operation. Returns 0, or -1 with errno set.
static int run_op(int rootfd, const struct wd_op *op, const struct wd_plan *plan) {
    unsigned recursive = (op->flags & WD_OPF_RECURSIVE) ? AT_RECURSIVE : 0;
    switch (op->kind) {
    case WD_OP_MKDIR: {
        int fd = ensure_dir(rootfd, op->path, op->mode);
        if (fd < 0) return -1;
        close(fd);
        return 0;
    }
    case WD_OP_SYMLINK: {
        const char *leaf;
        int parent = open_parent(rootfd, op->path, 1, &leaf);
        if (parent < 0) return -1;
        int rc = symlinkat(op->arg, parent, leaf);
        int saved = errno;
        close(parent);
        errno = saved;
        return rc;
    }
    case WD_OP_WRITE_FILE: {
        const char *leaf;
        int parent = open_parent(rootfd, op->path, 1, &leaf);
        if (parent < 0) return -1;
        int fd = openat(parent, leaf, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                        op->mode);
        int saved = errno;
        close(parent);
        // A workload's file already there (its environment snapshot made ~/.netrc) is its
        // own: a canary is not planted over it.
        if (fd < 0 && saved == EEXIST && (op->flags & WD_OPF_OWNED)) return 0;
        if (fd < 0) {
            errno = saved;
            return -1;
        }
        int rc = write_all(fd, op->data, op->data_len);
        if (rc == 0) rc = fchmod(fd, op->mode);
        if (rc == 0 && (op->flags & WD_OPF_OWNED)) rc = own_file(rootfd, fd, op);
        saved = errno;
        close(fd);
        errno = saved;
        return rc;
    }
    case WD_OP_OVERLAY:
        return overlay(rootfd, op, plan);
    case WD_OP_ATTACH:
    case WD_OP_BIND_HOST: {
        int target = mount_point(rootfd, op);
        if (target < 0) return -1;
        int rc = attach(op->fd, target);
        int saved = errno;
        close(target);
        close(op->fd);
        errno = saved;
        return rc;
    }
    case WD_OP_MOUNT: {
        if ((op->flags & WD_OPF_OPTIONAL) && !(op->flags & WD_OPF_CREATE)) {
            // Skip masks for entries this kernel does not have before building a filesystem.
            int probe = open_safe(rootfd, op->path, O_PATH, 0);
            if (probe < 0) return errno == ENOENT ? 0 : -1;
            close(probe);
        }
        int mnt = make_filesystem(op->arg, op->data, op->attr_set);
        if (mnt < 0) return -1;
        int target = mount_point(rootfd, op);
        if (target < 0) {
            int saved = errno;
            close(mnt);
            if (saved == ENOENT && (op->flags & WD_OPF_OPTIONAL)) return 0;
            errno = saved;
            return -1;
        }
        int rc = attach(mnt, target);
        int saved = errno;
        close(target);
        close(mnt);
        errno = saved;
        return rc;
    }
    case WD_OP_REBIND:
    case WD_OP_SELF_BIND: {
        // SELF_BIND resolves path beneath the directory `arg` without crossing into another
        // mount; REBIND clones the mount found at `arg` onto path.
        int base = -1, source, target;
        if (op->kind == WD_OP_SELF_BIND) {
            base = open_safe(rootfd, op->arg, O_PATH | O_DIRECTORY, 0);
            if (base < 0) return -1;
            source = open_safe(base, op->path, O_PATH, RESOLVE_NO_XDEV);
            if (source < 0) {
                int saved = errno;
                close(base);
                if (saved == ENOENT && (op->flags & WD_OPF_OPTIONAL)) return 0;
                errno = saved;
                return -1;
            }
            struct stat st;
            if (fstat(source, &st) < 0 ||
                ((op->flags & WD_OPF_DIR) ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
                // Type check: something other than what the plan protects sits there; an
                // agent-planted FIFO or device must not be bound. Refuse.
                close(source);
                close(base);
                errno = ENOTDIR;
                if (!(op->flags & WD_OPF_DIR)) errno = EISDIR;
                return -1;
            }
            target = dup(source);
        } else {
            source = open_safe(rootfd, op->arg, O_PATH, 0);
            if (source < 0) return (errno == ENOENT && (op->flags & WD_OPF_OPTIONAL)) ? 0 : -1;
            target = mount_point(rootfd, op);
            if (target < 0) {
                int saved = errno;
                close(source);
                if (saved == ENOENT && (op->flags & WD_OPF_OPTIONAL)) return 0;
                errno = saved;
                return -1;
            }
        }
        int tree = wd_open_tree(source, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                                recursive);
        int rc = tree;
        if (rc >= 0 && (op->attr_set || op->attr_clr))
            rc = wd_mount_setattr(tree, "", AT_EMPTY_PATH | recursive, op->attr_set, op->attr_clr,
                                  0, -1);
        if (rc >= 0) rc = attach(tree, target);
        int saved = errno;
        if (tree >= 0) close(tree);
        close(source);
        close(target);
        if (base >= 0) close(base);
        errno = saved;
        return rc < 0 ? -1 : 0;
    }
    case WD_OP_SETATTR: {
        int target = open_safe(rootfd, op->path, O_PATH, 0);
        if (target < 0) {
            if (errno == ENOENT && (op->flags & WD_OPF_OPTIONAL)) return 0;
            return -1;
        }
        int rc = wd_mount_setattr(target, "", AT_EMPTY_PATH | recursive, op->attr_set,
                                  op->attr_clr, 0, -1);
        int saved = errno;
        close(target);
        errno = saved;
        return rc;
    }
    default:
        errno = EINVAL;
        return -1;
    }
}

// ---------------------------------------------------------------------------------------------

static int bring_loopback_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(sock, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(sock, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(sock);
    errno = saved;
    return rc;
}

// Opens a pseudo-terminal in the sandbox's own devpts; returns the slave, sends the master.
static int open_terminal(const struct wd_plan *plan) {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return -1;
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) return -1;
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) return -1;
    // The workload reopens its terminal by name (ttyname, /dev/pts/N): it must own it.
    if (fchown(slave, plan->agent_uid, (gid_t)-1) < 0) return -1;
    if (ioctl(slave, TIOCSWINSZ, &plan->winsize) < 0) return -1;
    struct wd_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WD_MSG_PTY_MASTER;
    if (wd_send_msg(control_fd, &msg, master) < 0) return -1;
    close(master);
    return slave;
}

static void apply_landlock(const struct wd_plan *plan) {
    struct wd_landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = plan->landlock_handled_fs;
    attr.scoped = plan->landlock_scoped;
    size_t size = plan->landlock_abi >= 6 ? 24 : (plan->landlock_abi >= 4 ? 16 : 8);
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    CHECK(ruleset, WD_STEP_LANDLOCK_RULESET, 0);
    for (size_t i = 0; i < plan->landlock_rule_count; i++) {
        const struct wd_landlock_rule *rule = &plan->landlock_rules[i];
        int fd = open(rule->path, O_PATH | O_CLOEXEC);
        CHECK(fd, WD_STEP_LANDLOCK_RULE, (int32_t)i);
        struct stat st;
        CHECK(fstat(fd, &st), WD_STEP_LANDLOCK_RULE, (int32_t)i);
        struct wd_landlock_path_beneath_attr beneath;
        beneath.allowed_access = rule->access & plan->landlock_handled_fs;
        if (!S_ISDIR(st.st_mode)) beneath.allowed_access &= WD_LANDLOCK_FILE_ACCESS;
        beneath.parent_fd = fd;
        CHECK(syscall(SYS_landlock_add_rule, ruleset, WD_LANDLOCK_RULE_PATH_BENEATH, &beneath, 0),
              WD_STEP_LANDLOCK_RULE, (int32_t)i);
        close(fd);
    }
    CHECK(syscall(SYS_landlock_restrict_self, ruleset, 0), WD_STEP_LANDLOCK_RESTRICT, 0);
    close(ruleset);
}

static int load_filter(const struct sock_filter *filter, size_t len, unsigned flags) {
    struct sock_fprog prog;
    prog.len = (unsigned short)len;
    prog.filter = (struct sock_filter *)filter;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

// Closes every descriptor except the listed ones (R2: nothing the caller leaked survives).
static int close_all_except(const int *keep, int count) {
    int sorted[4];
    int n = 0;
    for (int i = 0; i < count && n < 4; i++)
        if (keep[i] > 2) sorted[n++] = keep[i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    unsigned int low = 3;
    for (int i = 0; i < n; i++) {
        if ((unsigned)sorted[i] > low &&
            syscall(SYS_close_range, low, (unsigned)sorted[i] - 1, 0) < 0)
            return -1;
        low = (unsigned)sorted[i] + 1;
    }
    return (int)syscall(SYS_close_range, low, ~0U, 0);
}

static uint64_t cap_words(const struct __user_cap_data_struct *data, int which) {
    const struct __user_cap_data_struct *lo = &data[0], *hi = &data[1];
    switch (which) {
    case 0: return (uint64_t)lo->effective | ((uint64_t)hi->effective << 32);
    case 1: return (uint64_t)lo->permitted | ((uint64_t)hi->permitted << 32);
    default: return (uint64_t)lo->inheritable | ((uint64_t)hi->inheritable << 32);
    }
}

static void report_ready(void) {
    struct wd_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WD_MSG_WORKLOAD_READY;
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) == 0) {
        msg.value[WD_READY_CAP_EFFECTIVE] = (int64_t)cap_words(data, 0);
        msg.value[WD_READY_CAP_PERMITTED] = (int64_t)cap_words(data, 1);
        msg.value[WD_READY_CAP_INHERITABLE] = (int64_t)cap_words(data, 2);
    } else {
        msg.value[WD_READY_CAP_EFFECTIVE] = -1;
    }
    uint64_t bounding = 0, ambient = 0;
    for (int cap = 0; cap < 64; cap++) {
        int in_bounding = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in_bounding < 0) break;
        if (in_bounding > 0) bounding |= 1ULL << cap;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0) ambient |= 1ULL << cap;
    }
    msg.value[WD_READY_CAP_BOUNDING] = (int64_t)bounding;
    msg.value[WD_READY_CAP_AMBIENT] = (int64_t)ambient;
    msg.value[WD_READY_SECUREBITS] = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    msg.value[WD_READY_NO_NEW_PRIVS] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    msg.value[WD_READY_UID_GID] = ((int64_t)getuid() << 32) | (int64_t)getgid();
    wd_send_msg(control_fd, &msg, -1);
}

// execvp without allocation, reporting the most meaningful errno.
int wd_exec_search(char *const argv[], char *const envp[], const char *search_path) {
    const char *command = argv[0];
    if (strchr(command, '/')) {
        execve(command, argv, envp);
        return errno;
    }
    const char *path = search_path ? search_path : "/usr/bin:/bin";
    int result = ENOENT;
    size_t command_len = strlen(command);
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t dir_len = colon ? (size_t)(colon - path) : strlen(path);
        char candidate[PATH_MAX];
        if (dir_len > 0 && dir_len + command_len + 2 <= sizeof candidate) {
            memcpy(candidate, path, dir_len);
            candidate[dir_len] = '/';
            memcpy(candidate + dir_len + 1, command, command_len + 1);
            execve(candidate, argv, envp);
            if (errno == EACCES || errno == EPERM) {
                result = errno;
            } else if (errno != ENOENT && errno != ENOTDIR) {
                return errno;
            }
        }
        if (!colon) break;
        path = colon + 1;
    }
    return result;
}

// The workload's limits and identity: rlimits, no groups, the agent ids, every capability set
// empty. Shared by the workload and the processes pid 1 spawns later, so both are the same.
int wd_take_workload_identity(const struct wd_plan *plan, uint32_t *step, int32_t *index) {
    *index = 0;
    for (size_t i = 0; i < plan->rlimit_count; i++) {
        struct rlimit limit = { plan->rlimits[i].soft, plan->rlimits[i].hard };
        *step = WD_STEP_W_RLIMIT;
        *index = (int32_t)i;
        if (setrlimit(plan->rlimits[i].resource, &limit) < 0) return -1;
    }
    *index = 0;
    *step = WD_STEP_W_SETGROUPS;
    if (plan->set_groups && raw_setgroups_empty() < 0) return -1;
    *step = WD_STEP_W_SETGID;
    if (raw_setresgid(plan->agent_gid) < 0) return -1;
    *step = WD_STEP_W_SETUID;
    if (raw_setresuid(plan->agent_uid) < 0) return -1;
    // Securebits keep capabilities across setuid (NO_SETUID_FIXUP); empty every set now.
    *step = WD_STEP_W_CAPS;
    if (plan->caps_empty && cap_set_proc((cap_t)plan->caps_empty) < 0) return -1;
    return 0;
}

__attribute__((noreturn)) static void workload_main(const struct wd_plan *plan, int slave) {
    // Signals: pid 1 blocked everything; the workload starts with defaults.
    CHECK(wd_reset_signals(), WD_STEP_W_SIGNALS, 0);

    if (slave >= 0) {
        CHECK(setsid(), WD_STEP_W_TERMINAL, 0);
        CHECK(ioctl(slave, TIOCSCTTY, 0), WD_STEP_W_TERMINAL, 1);
        for (int std = 0; std < 3; std++) {
            if (plan->pty_stdio_mask & (1u << std)) CHECK(dup2(slave, std), WD_STEP_W_TERMINAL, 2);
        }
        close(slave);
    }
    if (plan->null_stdio_mask) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        CHECK(null, WD_STEP_W_TERMINAL, 3);
        for (int std = 0; std < 3; std++) {
            if (plan->null_stdio_mask & (1u << std)) CHECK(dup2(null, std), WD_STEP_W_TERMINAL, 4);
        }
        close(null);
    }
    uint32_t step;
    int32_t index;
    if (wd_take_workload_identity(plan, &step, &index) < 0) fail(step, index, errno);
    umask(022);
    CHECK(chdir(plan->cwd), WD_STEP_W_CHDIR, 0);
    // Everything above 2 closes at exec; the control channel stays until then to report.
    CHECK((int)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC), WD_STEP_CLOSE_FDS, 1);
    report_ready();
    int err = wd_exec_search((char *const *)plan->argv, (char *const *)plan->envp, plan->exec_path);
    struct wd_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WD_MSG_EXEC_FAILED;
    msg.err = err;
    wd_send_msg(control_fd, &msg, -1);
    exit_now(err == ENOENT ? 127 : 126);
}

// pid 1: reap everything, forward signals to the workload, fork what the parent asks for
// (attach, terminals), report the workload's status, then exit (the kernel then kills whatever
// else is left in the pid namespace, spawned shells included).
__attribute__((noreturn)) static void init_loop(const struct wd_plan *plan, int signals, pid_t workload) {
    struct pollfd fds[2] = {
        { .fd = signals, .events = POLLIN, .revents = 0 },
        { .fd = plan->spawn_enabled ? control_fd : -1, .events = POLLIN, .revents = 0 },
    };
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            exit_now(WD_CHILD_SETUP_EXIT);
        }
        if (fds[1].revents & POLLIN) {
            if (wd_init_spawn_receive(plan, control_fd) < 0) fds[1].fd = -1;
        } else if (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            fds[1].fd = -1;
        }
        if (!(fds[0].revents & POLLIN)) continue;
        struct signalfd_siginfo info;
        while (read(signals, &info, sizeof info) == (ssize_t)sizeof info) {
            if (info.ssi_signo != SIGCHLD) {
                kill(workload, (int)info.ssi_signo);
                continue;
            }
            for (;;) {
                int status = 0;
                pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
                if (pid <= 0) break;
                if (pid == workload) {
                    struct wd_msg msg;
                    memset(&msg, 0, sizeof msg);
                    msg.type = WD_MSG_WORKLOAD_EXITED;
                    msg.value[0] = status;
                    wd_send_msg(control_fd, &msg, -1);
                    exit_now(0);
                }
                wd_init_spawn_reaped(control_fd, pid, status);
            }
        }
    }
}

__attribute__((noreturn)) void wd_child_main(const struct wd_plan *plan) {
    control_fd = plan->control_fd;
    staging_root = plan->staging_dir;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    umask(0);

    // Wait until the parent has written our id maps and placed us in our cgroups.
    struct wd_msg go;
    int passed = -1;
    ssize_t got = wd_recv_msg(control_fd, &go, &passed);
    if (got <= 0 || go.type != WD_MSG_GO) exit_now(WD_CHILD_SETUP_EXIT);

    if (plan->set_groups) CHECK(raw_setgroups_empty(), WD_STEP_SETGROUPS, 0);
    CHECK(raw_setresgid(plan->init_gid), WD_STEP_SETGID, 0);
    CHECK(raw_setresuid(plan->init_uid), WD_STEP_SETUID, 0);
    // Credential changes clear the parent-death signal, so set it only now, then make sure the
    // parent did not die in between (its end of the channel would be closed).
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    {
        char byte;
        ssize_t n = recv(control_fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
        if (n == 0) exit_now(WD_CHILD_SETUP_EXIT);
    }
    CHECK(setsid(), WD_STEP_SETSID, 0);

    // Filesystem: private propagation, a fresh tmpfs root, the plan, pivot_root.
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), WD_STEP_MOUNT_PRIVATE, 0);
    // Host paths this child clones itself are opened now, before the new root shadows any of
    // them. The plan is this process's private copy, so recording the descriptor in it is safe.
    for (size_t i = 0; i < plan->op_count; i++) {
        struct wd_op *op = (struct wd_op *)&plan->ops[i];
        if (op->kind != WD_OP_BIND_HOST) continue;
        // Resolved without symlinks, cloned from the descriptor (R14).
        int anchor = wd_openat2(AT_FDCWD, op->arg, O_PATH | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        CHECK(anchor, WD_STEP_OP, (int32_t)i);
        int tree = wd_open_tree(anchor, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        CHECK(tree, WD_STEP_OP, (int32_t)i);
        close(anchor);
        if (op->attr_set)
            CHECK(wd_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, op->attr_set, 0, 0, -1), WD_STEP_OP, (int32_t)i);
        op->fd = tree;
    }
    int root = make_filesystem("tmpfs", plan->root_options, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    CHECK(root, WD_STEP_ROOT_TMPFS, 0);
    int staging = open(plan->staging_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(staging, WD_STEP_ROOT_TMPFS, 1);
    CHECK(attach(root, staging), WD_STEP_ROOT_TMPFS, 2);
    close(staging);
    for (size_t i = 0; i < plan->op_count; i++) {
        CHECK(run_op(root, &plan->ops[i], plan), WD_STEP_OP, (int32_t)i);
    }
    CHECK(fchdir(root), WD_STEP_PIVOT_ROOT, 0);
    CHECK(syscall(SYS_pivot_root, ".", "."), WD_STEP_PIVOT_ROOT, 1);
    CHECK(umount2(".", MNT_DETACH), WD_STEP_PIVOT_ROOT, 2);
    CHECK(chdir("/"), WD_STEP_PIVOT_ROOT, 3);
    close(root);
    CHECK(wd_mount_setattr(AT_FDCWD, "/", 0, MOUNT_ATTR_RDONLY, 0, 0, -1), WD_STEP_ROOT_READONLY, 0);

    CHECK(sethostname(plan->hostname, strlen(plan->hostname)), WD_STEP_HOSTNAME, 0);
    if (plan->loopback_up) CHECK(bring_loopback_up(), WD_STEP_LOOPBACK, 0);

    int slave = -1;
    if (plan->want_pty) {
        slave = open_terminal(plan);
        CHECK(slave, WD_STEP_PTY, 0);
    }

    // From here on nothing of the caller may remain: close every inherited descriptor.
    int keep[2] = { control_fd, slave };
    CHECK(close_all_except(keep, 2), WD_STEP_CLOSE_FDS, 0);

    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), WD_STEP_NO_NEW_PRIVS, 0);
    if (plan->landlock_abi > 0) apply_landlock(plan);
    CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), WD_STEP_DUMPABLE, 0);
    wd_set_init_title("warden-init");

    CHECK(cap_set_secbits(plan->securebits), WD_STEP_SECUREBITS, 0);
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
        if (plan->bounding_keep & (1ULL << cap)) continue;
        CHECK(cap_drop_bound((cap_value_t)cap), WD_STEP_CAP_BOUNDING, cap);
    }
    CHECK(cap_reset_ambient(), WD_STEP_CAP_AMBIENT, 0);

    // The cgroup namespace is rooted at the sandbox's cgroup, where the child was born.
    if (plan->new_cgroupns) CHECK(unshare(CLONE_NEWCGROUP), WD_STEP_CGROUPNS, 0);

    // seccomp last (R9): it then covers pid 1 and everything it starts.
    if (plan->seccomp_baseline_len > 0)
        CHECK(load_filter(plan->seccomp_baseline, plan->seccomp_baseline_len, 0),
              WD_STEP_SECCOMP_BASELINE, 0);
    if (plan->seccomp_main_len > 0) {
        int listener = load_filter(plan->seccomp_main, plan->seccomp_main_len,
                                   SECCOMP_FILTER_FLAG_NEW_LISTENER);
        CHECK(listener, WD_STEP_SECCOMP_MAIN, 0);
        struct wd_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = WD_MSG_SECCOMP_LISTENER;
        CHECK(wd_send_msg(control_fd, &msg, listener), WD_STEP_SEND_FD, 0);
        close(listener);
    }

    // A raw clone: glibc's fork() would run atfork handlers that take locks another thread of
    // the original process may have held when we were cloned.
    // Every signal (all blocked) is read from a descriptor, so pid 1 can also wait for requests.
    int signals = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
    CHECK(signals, WD_STEP_FORK_WORKLOAD, 1);
    long workload = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    CHECK(workload, WD_STEP_FORK_WORKLOAD, 0);
    if (workload == 0) workload_main(plan, slave);

    if (slave >= 0) close(slave);
    if (plan->caps_init) CHECK(cap_set_proc((cap_t)plan->caps_init), WD_STEP_INIT_CAPS, 0);
    init_loop(plan, signals, (pid_t)workload);
}
