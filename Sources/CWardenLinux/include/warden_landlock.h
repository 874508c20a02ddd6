// Landlock filesystem rules.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// The Landlock ABI version the kernel offers, or -1 (errno set) when Landlock is unavailable.
long warden_landlock_abi(void);
/// Restricts the calling process (and its future children) with Landlock to the given paths:
/// `read_paths` may be read and executed, `write_paths` fully used, `device_paths` read and
/// written (device nodes), `proc_paths` read. Every access right the running kernel's ABI knows
/// is handled; TCP bind/connect (ABI 4+) get no rule, so they are denied; abstract Unix sockets
/// and signals are scoped to the sandbox (ABI 6+). Returns the ABI applied, 0 when the kernel
/// has no Landlock, or -1 with errno set (and `failed_path` naming the path, if one failed).
int warden_landlock_restrict(const char *const *read_paths, int read_count,
                             const char *const *write_paths, int write_count,
                             const char *const *device_paths, int device_count,
                             const char *const *proc_paths, int proc_count,
                             const char **failed_path);
