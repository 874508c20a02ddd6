// Passing descriptors over Unix sockets.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// sendmsg of `len` bytes with `fd` attached as SCM_RIGHTS (no fd when `fd` < 0).
ssize_t warden_send_with_fd(int socket, const void *data, size_t len, int fd);
/// recvmsg into `buffer`; an fd received with it goes to `*fd` (close-on-exec), else -1.
ssize_t warden_recv_with_fd(int socket, void *buffer, size_t len, int *fd);
/// A SOCK_SEQPACKET Unix socketpair, close-on-exec.
int warden_seqpacket_pair(int fds[2]);
/// sendmsg of `len` bytes with `count` fds attached as SCM_RIGHTS (at most 8).
ssize_t warden_send_with_fds(int socket, const void *data, size_t len, const int *fds, int count);
/// recvmsg into `buffer`; fds received with it go to `fds` (close-on-exec, at most `max`, the
/// rest closed) and their number to `*count`.
ssize_t warden_recv_with_fds(int socket, void *buffer, size_t len, int *fds, int max, int *count);
