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


// Processes: spawning, namespaces, pidfds, parent-death signals.

int warden_close_range(unsigned int first, unsigned int last) {
    return (int)syscall(SYS_close_range, first, last, 0);
}

int warden_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
pid_t warden_fork_sibling(void) { return (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0); }
int warden_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int warden_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }

int warden_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 const int *child_fds, int count) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    posix_spawnattr_init(&attr);
    // The child starts with default signal dispositions and an empty mask, whatever the daemon set.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    // Move the wanted fds above every target slot and every source first, so no dup2 clobbers
    // a source that is still needed, however many fds the daemon holds.
    int base = count;
    for (int i = 0; i < count; i++)
        if (child_fds[i] >= base) base = child_fds[i] + 1;
    for (int i = 0; i < count && rc == 0; i++)
        rc = posix_spawn_file_actions_adddup2(&actions, child_fds[i], base + i);
    for (int i = 0; i < count && rc == 0; i++)
        rc = posix_spawn_file_actions_adddup2(&actions, base + i, i);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, count);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

#include <sched.h>
#include <grp.h>

int warden_pipe2_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int warden_unshare_sandbox_namespaces(void) {
    return unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                   CLONE_NEWUTS | CLONE_NEWCGROUP);
}

int warden_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}

#include <sys/wait.h>

pid_t warden_start_agent(const char *path, char *const argv[], char *const envp[], int status_fd, int keep_broker) {
    // Shared with the vfork child, which writes its exec's errno here before it exits.
    volatile int exec_errno = 0;
    pid_t pid = vfork();
    if (pid < 0) return -1;
    if (pid == 0) {
        // Only async-signal-safe calls: this child borrows the parent's memory until execve.
        if (setsid() < 0) { exec_errno = errno; _exit(125); }
        unsigned int first_closed = 4;
        if (status_fd >= 0) {
            if (status_fd != 4 && dup2(status_fd, 4) < 0) { exec_errno = errno; _exit(125); }
            fcntl(4, F_SETFD, FD_CLOEXEC);
            first_closed = 5;
        }
        syscall(SYS_close_range, first_closed, ~0U, 0);
        if (!keep_broker) close(3);
        execve(path, argv, envp);
        exec_errno = errno;
        _exit(127);
    }
    if (exec_errno != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        errno = exec_errno;
        return -1;
    }
    return pid;
}
