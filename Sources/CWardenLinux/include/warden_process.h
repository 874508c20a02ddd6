// Processes: spawning, namespaces, pidfds, parent-death signals.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int warden_close_range(unsigned int first, unsigned int last);
int warden_set_pdeathsig(int sig);
/// fork(2) by clone(CLONE_PARENT): the child's parent is the caller's parent (the caller's
/// sibling, not its child). Raw clone runs no atfork handlers: single-threaded callers only.
pid_t warden_fork_sibling(void);
/// posix_spawn with the given fds dup'ed onto 0..count-1 in the child (all others closed).
int warden_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 const int *child_fds, int count);
/// glibc declares these only with _GNU_SOURCE, which Swift's Glibc module does not set.
int warden_pipe2_cloexec(int fds[2]);
/// unshare(2) of the user, mount, pid, net, ipc, uts and cgroup namespaces at once.
int warden_unshare_sandbox_namespaces(void);
int warden_pidfd_open(pid_t pid);
int warden_pidfd_send_signal(int pidfd, int sig);
/* Names the calling thread for the kernel (ps -T, top -H, perf): at most 15 bytes kept. */
int warden_set_thread_name(const char *name);
/// Starts the agent with vfork (no copy of the caller's page tables): in the child, setsid,
/// the status fd moved to fd 4 close-on-exec (when `status_fd` >= 0), fds from `first_closed`
/// up closed, fd 3 closed unless `keep_broker`, then execve. Returns the pid, or -1 with errno
/// set — the exec's own errno when the exec failed (the child is reaped then).
pid_t warden_start_agent(const char *path, char *const argv[], char *const envp[], int status_fd, int keep_broker);
