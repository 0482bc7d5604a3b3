// Why C: the original argv/environ block is only reachable through the arguments glibc passes to
// ELF constructors. The sandbox's pid 1 is a copy of the Warden process; without this its
// /proc/1/cmdline would show Warden's own command line to the workload.
#include "shim_internal.h"

#include <string.h>

static char *title_start;
static size_t title_capacity;

__attribute__((constructor)) static void wd_capture_argument_block(int argc, char **argv,
                                                                     char **envp) {
    if (argc <= 0 || argv == NULL || argv[0] == NULL) return;
    char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    // The environment strings follow the arguments in one block; include the contiguous part.
    for (char **entry = envp; entry != NULL && *entry != NULL; entry++) {
        if (*entry == end) end = *entry + strlen(*entry) + 1;
    }
    title_start = argv[0];
    title_capacity = (size_t)(end - argv[0]);
}

void wd_set_init_title(const char *title) {
    if (title_start == NULL || title_capacity == 0) return;
    memset(title_start, 0, title_capacity);
    size_t len = strlen(title);
    if (len >= title_capacity) len = title_capacity - 1;
    memcpy(title_start, title, len);
}
