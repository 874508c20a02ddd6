// Path resolution the kernel confines: openat2(2) and renameat2(2), which glibc 2.36 does not
// wrap. Each returns what the syscall returns, with errno set on failure.
#pragma once
#include <stdint.h>
#include <sys/types.h>

/// RESOLVE_* flags of openat2(2), for Swift (linux/openat2.h is not in Glibc's module).
enum {
    WARDEN_RESOLVE_NO_XDEV = 0x01,
    WARDEN_RESOLVE_NO_MAGICLINKS = 0x02,
    WARDEN_RESOLVE_NO_SYMLINKS = 0x04,
    WARDEN_RESOLVE_BENEATH = 0x08,
    WARDEN_RESOLVE_IN_ROOT = 0x10,
};

/// Open flags and lseek whences glibc declares only with _GNU_SOURCE, which Swift's Glibc
/// module does not set.
enum {
    WARDEN_O_PATH = 010000000,
    WARDEN_SEEK_DATA = 3,
    WARDEN_SEEK_HOLE = 4,
};

/// openat2(dirfd, path, {flags, mode, resolve}). ENOSYS on kernels before 5.6.
int warden_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// renameat2(2); `flags` 0, RENAME_NOREPLACE (1) or RENAME_EXCHANGE (2).
int warden_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
