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
/// fork(2) by clone(CLONE_PARENT): the child's parent is the caller's parent (the caller's
/// sibling, not its child). Raw clone runs no atfork handlers: single-threaded callers only.
pid_t warden_fork_sibling(void);
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

// Syscall supervision and exact process lifecycle.

/// Installs a seccomp filter with SECCOMP_FILTER_FLAG_NEW_LISTENER and returns the notify fd
/// (close-on-exec), or -1 with errno set.
int warden_seccomp_install_listener(const void *program, size_t len);
/// Asks the kernel to wake the notifying task on the supervisor's CPU when it answers
/// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6+). Returns 0 or -1 with errno set.
int warden_seccomp_notify_sync_wakeup(int notify_fd);
/// sendmsg of `len` bytes with `fd` attached as SCM_RIGHTS (no fd when `fd` < 0).
ssize_t warden_send_with_fd(int socket, const void *data, size_t len, int fd);
/// recvmsg into `buffer`; an fd received with it goes to `*fd` (close-on-exec), else -1.
ssize_t warden_recv_with_fd(int socket, void *buffer, size_t len, int *fd);
int warden_pidfd_open(pid_t pid);

/* Gives the pages malloc holds free, in every arena, back to the kernel (malloc_trim(0)).
 * Returns 1 if any memory was released. */
int warden_release_free_memory(void);
/* Bytes malloc has handed out and not had back, over every arena (mallinfo2: uordblks +
 * hblkhd). Unlike the resident size, free memory that fragmentation keeps inside an arena does
 * not count, so it rises only with what the process really holds. */
size_t warden_heap_in_use(void);
/* Fixed malloc thresholds for a long-lived daemon (see linux.c). */
void warden_configure_malloc(void);
int warden_pidfd_send_signal(int pidfd, int sig);
/* Names the calling thread for the kernel (ps -T, top -H, perf): at most 15 bytes kept. */
int warden_set_thread_name(const char *name);
/// A SOCK_SEQPACKET Unix socketpair, close-on-exec.
int warden_seqpacket_pair(int fds[2]);

/// One seccomp user notification, flattened from struct seccomp_notif.
struct warden_notification {
    uint64_t id;
    uint32_t pid;
    int32_t nr;
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t args[6];
};
/// Blocks for the next notification. 0, or -1 with errno (ENOENT: the task died meanwhile).
int warden_notify_receive(int notify_fd, struct warden_notification *out);
/// Answers a notification: `error` > 0 fails the syscall with that errno; otherwise, with
/// `continue_call`, the kernel runs the syscall as the task asked.
int warden_notify_respond(int notify_fd, uint64_t id, int error, int continue_call);
/// 0 while the notification is still pending (the task has not died or been interrupted).
int warden_notify_id_valid(int notify_fd, uint64_t id);
/// Reads another process's memory with process_vm_readv, one page at a time so that a string
/// ending before an unmapped page still reads. Returns the bytes read, or -1 with errno.
ssize_t warden_read_process_memory(pid_t pid, uint64_t address, void *buffer, size_t len);
int warden_set_dumpable(int dumpable);
/// sendmsg of `len` bytes with `count` fds attached as SCM_RIGHTS (at most 8).
ssize_t warden_send_with_fds(int socket, const void *data, size_t len, const int *fds, int count);
/// recvmsg into `buffer`; fds received with it go to `fds` (close-on-exec, at most `max`, the
/// rest closed) and their number to `*count`.
ssize_t warden_recv_with_fds(int socket, void *buffer, size_t len, int *fds, int max, int *count);
/// Starts the agent with vfork (no copy of the caller's page tables): in the child, setsid,
/// the status fd moved to fd 4 close-on-exec (when `status_fd` >= 0), fds from `first_closed`
/// up closed, fd 3 closed unless `keep_broker`, then execve. Returns the pid, or -1 with errno
/// set — the exec's own errno when the exec failed (the child is reaped then).
pid_t warden_start_agent(const char *path, char *const argv[], char *const envp[], int status_fd, int keep_broker);
