// The sandbox network namespace's loopback.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Brings up `lo` in the current network namespace.
int warden_loopback_up(void);
