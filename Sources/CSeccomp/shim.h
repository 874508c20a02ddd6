// libseccomp's actions and comparisons are function-like macros, which Swift cannot import.
#pragma once
#include <seccomp.h>
#include <stdint.h>

static inline uint32_t warden_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
static inline uint32_t warden_scmp_act_trace(uint16_t msg) { return SCMP_ACT_TRACE(msg); }
static inline uint32_t warden_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t warden_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t warden_scmp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }
static inline uint32_t warden_scmp_act_log(void) { return SCMP_ACT_LOG; }
static inline uint32_t warden_scmp_act_notify(void) { return SCMP_ACT_NOTIFY; }
static inline uint32_t warden_scmp_arch_native(void) { return SCMP_ARCH_NATIVE; }
static inline uint32_t warden_scmp_arch_x86(void) { return SCMP_ARCH_X86; }
static inline uint32_t warden_scmp_arch_x32(void) { return SCMP_ARCH_X32; }

static inline struct scmp_arg_cmp warden_scmp_arg(unsigned int arg, enum scmp_compare op,
                                                  uint64_t a, uint64_t b) {
    struct scmp_arg_cmp cmp = { arg, op, a, b };
    return cmp;
}
