// Prints the effective uid. Installed setuid-root on the host and run inside the sandbox: the
// set-id bit must not raise privileges there (no_new_privs, nosuid mounts).
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("euid=%d uid=%d\n", (int)geteuid(), (int)getuid());
    return 0;
}
