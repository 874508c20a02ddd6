#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "openat2.h"
#include "thread_credentials.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct warden_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

int warden_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct warden_open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int warden_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int warden_thread_setfsuid(int32_t uid) { return (int)syscall(SYS_setfsuid, uid); }

int warden_thread_setfsgid(int32_t gid) { return (int)syscall(SYS_setfsgid, gid); }

int warden_thread_capabilities(uint64_t *effective, uint64_t *permitted) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    *effective = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
    *permitted = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
    return 0;
}

int warden_thread_set_effective(uint64_t effective) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    data[0].effective = (uint32_t)effective;
    data[1].effective = (uint32_t)(effective >> 32);
    header.pid = 0;
    return (int)syscall(SYS_capset, &header, data);
}

int warden_thread_setgroups(int count, const gid_t *groups) { return (int)syscall(SYS_setgroups, count, groups); }
