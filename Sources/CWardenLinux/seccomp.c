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


// Seccomp filters and user-notification supervision.

int warden_seccomp_install(const void *program, size_t len) {
    if (len == 0 || len % sizeof(struct sock_filter) != 0) { errno = EINVAL; return -1; }
    struct sock_fprog prog = { (unsigned short)(len / sizeof(struct sock_filter)),
                               (struct sock_filter *)program };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}


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

int warden_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }

int warden_seqpacket_pair(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

#include <sys/uio.h>


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
