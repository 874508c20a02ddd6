// Landlock for one thread: restricts the calling thread (and threads it creates later) to the
// tree beneath a directory descriptor. The kernel enforces it per thread; other threads of the
// process keep their access.
#pragma once

/// Sets no_new_privs on the calling thread and restricts it with Landlock to the tree beneath
/// `dirfd`: every file-system right the kernel's ABI knows when `writable`, reading files and
/// directories only otherwise; nothing anywhere else. Returns the ABI applied, 0 when the kernel
/// has no Landlock, or -1 with errno set.
long warden_thread_confine_beneath(int dirfd, int writable);
