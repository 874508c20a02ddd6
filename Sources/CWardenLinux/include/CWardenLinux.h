// Linux calls that Swift cannot make directly: syscall(2) is variadic, and some
// kernel structures (ifreq, capability headers, sock_fprog) are awkward to build
// from Swift. Each wrapper returns 0 or -1 with errno set, like the libc call.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int warden_pivot_root(const char *new_root, const char *put_old);
/// Makes the mount at `path` and every mount below it read-only, nosuid and nodev.
int warden_mount_setattr_readonly(const char *path);
/// Drops every capability from the bounding set and clears the ambient set (needs CAP_SETPCAP,
/// so call it before switching to an unprivileged uid).
int warden_drop_bounding_set(void);
/// Clears the effective, permitted and inheritable sets.
int warden_clear_capabilities(void);
/// The effective capability mask (low and high words combined), for reports and tests.
unsigned long long warden_effective_capabilities(void);
/// Brings up `lo` in the current network namespace.
int warden_loopback_up(void);
/// Installs a classic BPF program (`len` bytes of struct sock_filter) as a seccomp filter.
int warden_seccomp_install(const void *program, size_t len);
int warden_close_range(unsigned int first, unsigned int last);
int warden_set_pdeathsig(int sig);
int warden_set_no_new_privs(void);
int warden_get_no_new_privs(void);
/// posix_spawn with the given fds dup'ed onto 0..count-1 in the child (all others closed).
int warden_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 const int *child_fds, int count);
/// glibc declares these only with _GNU_SOURCE, which Swift's Glibc module does not set.
int warden_pipe2_cloexec(int fds[2]);
/// unshare(2) of the user, mount, pid, net, ipc, uts and cgroup namespaces at once.
int warden_unshare_sandbox_namespaces(void);
int warden_setresuid(uid_t uid);
int warden_setresgid(gid_t gid);
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
