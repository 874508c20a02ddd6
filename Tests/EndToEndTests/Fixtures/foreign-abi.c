/* Enters the kernel through another ABI than x86_64's: `i386` (int 0x80) or `x32`
 * (syscall with the x32 bit). The sandbox's seccomp filter must kill the process. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    long ret = 0;
    printf("before\n");
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "i386") == 0) {
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");         /* getpid */
    } else {
        __asm__ volatile("syscall" : "=a"(ret) : "a"(39L | 0x40000000L) : "rcx", "r11", "memory");
    }
    printf("survived: %ld\n", ret);
    return 0;
}
