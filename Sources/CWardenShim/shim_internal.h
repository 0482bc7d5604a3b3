// Private declarations of the shim. Kernel structures are declared here rather than taken from
// the build machine's headers, because Debian 12 ships linux-libc-dev 6.1, which predates the
// Landlock fields (network, scopes) this code uses on newer kernels.
#ifndef WARDEN_SHIM_INTERNAL_H
#define WARDEN_SHIM_INTERNAL_H

#include "warden_shim.h"

#include <stdint.h>
#include <sys/types.h>

struct wd_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

struct wd_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct wd_landlock_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define WD_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define WD_LANDLOCK_RULE_PATH_BENEATH 1

// Access rights that make sense on a regular file (the rest only apply to directories).
#define WD_LANDLOCK_FILE_ACCESS ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15))

int wd_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                  unsigned int flags);

// The sandbox child: runs the plan, becomes pid 1. Never returns.
__attribute__((noreturn)) void wd_child_main(const struct wd_plan *plan);

// Every signal back to its default action and none blocked, as a freshly started program
// expects. Async-signal-safe: for use between fork/clone and exec. Returns sigprocmask's result.
int wd_reset_signals(void);

// execvp without allocation: argv[0] searched in `search_path` when it has no slash. Returns
// the errno that best explains the failure (it returns only on failure).
int wd_exec_search(char *const argv[], char *const envp[], const char *search_path);

// Gives the calling process the workload's rlimits, ids and empty capability sets. On failure
// returns -1 with errno set and the failing step and index.
int wd_take_workload_identity(const struct wd_plan *plan, uint32_t *step, int32_t *index);

// pid 1's part in spawning (init_spawn.c): reads one request from the control channel and forks
// it; returns -1 once the channel has ended. `reaped` reports the end of a spawned process.
int wd_init_spawn_receive(const struct wd_plan *plan, int control);
void wd_init_spawn_reaped(int control, pid_t pid, int status);

#endif
