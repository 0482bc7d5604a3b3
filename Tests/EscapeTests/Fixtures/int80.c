// An i386 system call from a 64-bit process (int 0x80): getpid, number 20 in the i386 table.
// A sandbox must refuse foreign-architecture calls (R8); prints the raw result.
#include <stdio.h>

int main(void) {
    long result;
    __asm__ volatile("int $0x80" : "=a"(result) : "a"(20L) : "memory");
    printf("%ld\n", result);
    return 0;
}
