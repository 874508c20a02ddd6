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

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

int warden_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int warden_mount_setattr_readonly(const char *path) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr);
}

int warden_drop_bounding_set(void) {
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return 0;
}

int warden_clear_capabilities(void) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &header, data);
}

unsigned long long warden_effective_capabilities(void) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return ~0ULL;
    return ((unsigned long long)data[1].effective << 32) | data[0].effective;
}

int warden_loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq req;
    memset(&req, 0, sizeof req);
    strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &req);
    if (rc == 0) {
        req.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &req);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int warden_seccomp_install(const void *program, size_t len) {
    if (len == 0 || len % sizeof(struct sock_filter) != 0) { errno = EINVAL; return -1; }
    struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)),
                               (struct sock_filter *)program };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

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

int warden_setresuid(uid_t uid) { return setresuid(uid, uid, uid); }
int warden_setresgid(gid_t gid) { return setresgid(gid, gid, gid); }

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

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

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS _IOW('!', 4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1UL
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int warden_seccomp_install_listener(const void *program, size_t len) {
    if (len == 0 || len % sizeof(struct sock_filter) != 0) { errno = EINVAL; return -1; }
    struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)),
                               (struct sock_filter *)program };
    int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int warden_seccomp_notify_sync_wakeup(int notify_fd) {
    return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
}

ssize_t warden_send_with_fd(int socket, const void *data, size_t len, int fd) {
    return warden_send_with_fds(socket, data, len, &fd, fd >= 0 ? 1 : 0);
}

ssize_t warden_recv_with_fd(int socket, void *buffer, size_t len, int *fd) {
    // Keep the first; a sender cannot make us leak descriptors by attaching more.
    int count = 0;
    ssize_t n = warden_recv_with_fds(socket, buffer, len, fd, 1, &count);
    if (count == 0) *fd = -1;
    return n;
}

int warden_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int warden_release_free_memory(void) { return malloc_trim(0); }

/* glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB) and its
 * trim threshold to twice that, so after one large message every arena may keep up to 64 MiB
 * free at its top; malloc_trim does not shrink the top of a thread's arena. Setting both
 * thresholds turns that adaptation off: blocks of 256 KiB and more get mappings of their own
 * and go back to the kernel when freed, and an arena keeps at most 512 KiB free at its top,
 * so the daemon's resident size follows what it uses after a flood. */
void warden_configure_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024);
}

int warden_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}

size_t warden_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

int warden_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }

int warden_seqpacket_pair(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

#include <sys/uio.h>

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif

int warden_notify_receive(int notify_fd, struct warden_notification *out) {
    struct seccomp_notif request;
    memset(&request, 0, sizeof(request));
    if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) return -1;
    out->id = request.id;
    out->pid = request.pid;
    out->nr = request.data.nr;
    out->arch = request.data.arch;
    out->instruction_pointer = request.data.instruction_pointer;
    for (int i = 0; i < 6; i++) out->args[i] = request.data.args[i];
    return 0;
}

int warden_notify_respond(int notify_fd, uint64_t id, int error, int continue_call) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof(response));
    response.id = id;
    if (error > 0) {
        response.error = -error;
    } else if (continue_call) {
        response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
    return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &response);
}

int warden_notify_id_valid(int notify_fd, uint64_t id) {
    return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

ssize_t warden_read_process_memory(pid_t pid, uint64_t address, void *buffer, size_t len) {
    size_t done = 0;
    const size_t page = 4096;
    while (done < len) {
        uint64_t at = address + done;
        size_t chunk = page - (size_t)(at % page);
        if (chunk > len - done) chunk = len - done;
        struct iovec local = { (char *)buffer + done, chunk };
        struct iovec remote = { (void *)(uintptr_t)at, chunk };
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0) return done > 0 ? (ssize_t)done : -1;
        done += (size_t)n;
    }
    return (ssize_t)done;
}
int warden_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }

ssize_t warden_send_with_fds(int socket, const void *data, size_t len, const int *fds, int count) {
    if (count < 0 || count > 8) { errno = EINVAL; return -1; }
    struct iovec iov = { (void *)data, len };
    union { char buf[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } control;
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (count > 0) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
    }
    ssize_t n;
    do { n = sendmsg(socket, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t warden_recv_with_fds(int socket, void *buffer, size_t len, int *fds, int max, int *count) {
    struct iovec iov = { buffer, len };
    union { char buf[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } control;
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    *count = 0;
    ssize_t n;
    do { n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        int received = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int all[8];
        memcpy(all, CMSG_DATA(cmsg), sizeof(int) * (received > 8 ? 8 : received));
        for (int i = 0; i < received && i < 8; i++) {
            if (*count < max) fds[(*count)++] = all[i]; else close(all[i]);
        }
    }
    return n;
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
