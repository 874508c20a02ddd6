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


// Passing descriptors over Unix sockets.

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
