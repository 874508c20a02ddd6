#define _GNU_SOURCE
#include "CWardenLinux.h"

#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_compat.h"


// malloc's footprint in a long-lived daemon.

int warden_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int warden_release_free_memory(void) { return malloc_trim(0); }

/* glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB) and its
 * trim threshold to twice that, so after one large message every arena may keep up to 64 MiB
 * free at its top; malloc_trim does not shrink the top of a thread's arena. Setting both
 * thresholds turns that adaptation off: blocks of 256 KiB and more get mappings of their own
 * and go back to the kernel when freed, and an arena keeps at most 512 KiB free at its top,
 * so the daemon's resident size follows what it uses after a flood. */
void warden_configure_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024);
}

size_t warden_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
