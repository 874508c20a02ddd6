// Mounts: pivot_root and recursive read-only.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int warden_pivot_root(const char *new_root, const char *put_old);
/// Makes the mount at `path` and every mount below it read-only, nosuid and nodev.
int warden_mount_setattr_readonly(const char *path);
