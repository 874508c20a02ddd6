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

int warden_thread_set_capabilities(uint64_t kept) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = (uint32_t)kept;
    data[1].effective = data[1].permitted = (uint32_t)(kept >> 32);
    return (int)syscall(SYS_capset, &header, data);
}

int warden_thread_setgroups(int count, const gid_t *groups) { return (int)syscall(SYS_setgroups, count, groups); }

#include <sys/prctl.h>
#include "thread_landlock.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct warden_thread_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

long warden_thread_confine_beneath(int dirfd, int writable) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
    if (abi <= 0) return (errno == ENOSYS || errno == EOPNOTSUPP) ? 0 : -1;
    uint64_t handled = (1ULL << 13) - 1;            /* ABI 1: execute ... make_sym */
    if (abi >= 2) handled |= 1ULL << 13;            /* REFER */
    if (abi >= 3) handled |= 1ULL << 14;            /* TRUNCATE */
    if (abi >= 5) handled |= 1ULL << 15;            /* IOCTL_DEV */
    uint64_t read_only = (1ULL << 2) | (1ULL << 3); /* READ_FILE | READ_DIR */
    uint64_t handled_fs = handled;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &handled_fs, sizeof handled_fs, 0);
    if (ruleset < 0) return -1;
    struct warden_thread_path_beneath rule = { writable ? handled : read_only, dirfd };
    if (syscall(SYS_landlock_add_rule, ruleset, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &rule, 0) != 0) {
        int saved = errno;
        close(ruleset);
        errno = saved;
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        int saved = errno;
        close(ruleset);
        errno = saved;
        return -1;
    }
    long rc = syscall(SYS_landlock_restrict_self, ruleset, 0);
    int saved = errno;
    close(ruleset);
    errno = saved;
    return rc == 0 ? abi : -1;
}
