// Seccomp filters and user-notification supervision.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Installs a classic BPF program (`len` bytes of struct sock_filter) as a seccomp filter.
int warden_seccomp_install(const void *program, size_t len);
/// Installs a seccomp filter with SECCOMP_FILTER_FLAG_NEW_LISTENER and returns the notify fd
/// (close-on-exec), or -1 with errno set.
int warden_seccomp_install_listener(const void *program, size_t len);
/// Asks the kernel to wake the notifying task on the supervisor's CPU when it answers
/// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6+). Returns 0 or -1 with errno set.
int warden_seccomp_notify_sync_wakeup(int notify_fd);
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
