// Capabilities, uids and no_new_privs.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Drops every capability from the bounding set and clears the ambient set (needs CAP_SETPCAP,
/// so call it before switching to an unprivileged uid).
int warden_drop_bounding_set(void);
/// Clears the effective, permitted and inheritable sets.
int warden_clear_capabilities(void);
/// The effective capability mask (low and high words combined), for reports and tests.
unsigned long long warden_effective_capabilities(void);
int warden_set_no_new_privs(void);
int warden_get_no_new_privs(void);
int warden_setresuid(uid_t uid);
int warden_setresgid(gid_t gid);
int warden_set_dumpable(int dumpable);
