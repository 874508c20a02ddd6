// Credentials of the calling thread alone. The kernel keeps fsuid, fsgid and the capability
// sets per thread; glibc's setuid family changes every thread of the process, so these go to
// the syscalls directly and never touch another thread.
#pragma once
#include <stdint.h>
#include <sys/types.h>

/// setfsuid(2) and setfsgid(2) on this thread: the previous value (they report no error; read the
/// value back with -1 to know whether the change took).
int warden_thread_setfsuid(int32_t uid);
int warden_thread_setfsgid(int32_t gid);

/// This thread's effective and permitted capability masks (both 64-bit words combined).
int warden_thread_capabilities(uint64_t *effective, uint64_t *permitted);

/// Sets this thread's effective capability mask (the permitted and inheritable sets are kept, so
/// a mask within the permitted set can be restored later). 0, or -1 with errno set.
int warden_thread_set_effective(uint64_t effective);

/// Sets this thread's permitted and effective sets to `kept` and clears its inheritable set, for
/// good. 0, or -1 with errno set.
int warden_thread_set_capabilities(uint64_t kept);

/// setgroups(2) on this thread alone (glibc's wrapper changes every thread).
int warden_thread_setgroups(int count, const gid_t *groups);
