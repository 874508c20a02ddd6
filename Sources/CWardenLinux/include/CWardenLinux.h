// Linux calls that Swift cannot make directly: syscall(2) is variadic, and some kernel
// structures (ifreq, capability headers, sock_fprog, seccomp notifications) are awkward to
// build from Swift. One header per concern; Swift imports them all as `CWardenLinux`.
#pragma once
#include "warden_process.h"
#include "warden_descriptors.h"
#include "warden_mount.h"
#include "warden_credentials.h"
#include "warden_network.h"
#include "warden_landlock.h"
#include "warden_seccomp.h"
#include "warden_memory.h"
