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


// Landlock filesystem rules.

int warden_setresuid(uid_t uid) { return setresuid(uid, uid, uid); }
int warden_setresgid(gid_t gid) { return setresgid(gid, gid, gid); }


long warden_landlock_abi(void) {
    return syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
}

#include <sys/stat.h>

#define WL_FS_EXECUTE (1ULL << 0)
#define WL_FS_WRITE_FILE (1ULL << 1)
#define WL_FS_READ_FILE (1ULL << 2)
#define WL_FS_READ_DIR (1ULL << 3)
#define WL_FS_TRUNCATE (1ULL << 14)
#define WL_FS_IOCTL_DEV (1ULL << 15)
#define WL_FS_FILE_RIGHTS (WL_FS_EXECUTE | WL_FS_WRITE_FILE | WL_FS_READ_FILE | WL_FS_TRUNCATE | WL_FS_IOCTL_DEV)

struct warden_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct warden_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static uint64_t warden_landlock_fs_rights(long abi) {
    uint64_t rights = (1ULL << 13) - 1;          /* ABI 1: bits 0..12 */
    if (abi >= 2) rights |= 1ULL << 13;          /* REFER */
    if (abi >= 3) rights |= WL_FS_TRUNCATE;
    if (abi >= 5) rights |= WL_FS_IOCTL_DEV;
    return rights;
}

static int warden_landlock_add(int ruleset, const char *path, uint64_t allowed, uint64_t handled) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;  /* a path absent in this sandbox needs no rule */
    struct stat info;
    if (fstat(fd, &info) != 0) { close(fd); return -1; }
    if (!S_ISDIR(info.st_mode)) allowed &= WL_FS_FILE_RIGHTS;
    struct warden_path_beneath_attr rule = { allowed & handled, fd };
    long rc = syscall(445 /* landlock_add_rule */, ruleset, 1 /* PATH_BENEATH */, &rule, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc == 0 ? 0 : -1;
}

int warden_landlock_restrict(const char *const *read_paths, int read_count,
                             const char *const *write_paths, int write_count,
                             const char *const *device_paths, int device_count,
                             const char *const *proc_paths, int proc_count,
                             const char **failed_path) {
    long abi = warden_landlock_abi();
    if (abi <= 0) return 0;
    struct warden_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    uint64_t handled = warden_landlock_fs_rights(abi);
    attr.handled_access_fs = handled;
    size_t size = sizeof(uint64_t);
    if (abi >= 4) { attr.handled_access_net = 3; size = 2 * sizeof(uint64_t); }   /* BIND_TCP | CONNECT_TCP */
    if (abi >= 6) { attr.scoped = 3; size = 3 * sizeof(uint64_t); }               /* abstract sockets, signals */
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return -1;
    uint64_t read_rights = WL_FS_EXECUTE | WL_FS_READ_FILE | WL_FS_READ_DIR;
    uint64_t device_rights = WL_FS_READ_FILE | WL_FS_WRITE_FILE | WL_FS_READ_DIR | WL_FS_TRUNCATE | WL_FS_IOCTL_DEV;
    uint64_t proc_rights = WL_FS_READ_FILE | WL_FS_READ_DIR;
    struct { const char *const *paths; int count; uint64_t rights; } groups[4] = {
        { read_paths, read_count, read_rights }, { write_paths, write_count, handled },
        { device_paths, device_count, device_rights }, { proc_paths, proc_count, proc_rights },
    };
    for (int g = 0; g < 4; g++) {
        for (int i = 0; i < groups[g].count; i++) {
            if (warden_landlock_add(ruleset, groups[g].paths[i], groups[g].rights, handled) != 0) {
                int saved = errno;
                if (failed_path) *failed_path = groups[g].paths[i];
                close(ruleset);
                errno = saved;
                return -1;
            }
        }
    }
    long rc = syscall(446 /* landlock_restrict_self */, ruleset, 0);
    int saved = errno;
    close(ruleset);
    errno = saved;
    return rc == 0 ? (int)abi : -1;
}
