// libseccomp for Swift. SCMP_ACT_ERRNO and friends are function-like macros and
// seccomp_rule_add is variadic; Swift can import neither, so they are wrapped here.
#ifndef WARDEN_CSECCOMP_SHIM_H
#define WARDEN_CSECCOMP_SHIM_H
#include <seccomp.h>
#include <linux/seccomp.h>

static inline uint32_t wd_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
static inline uint32_t wd_scmp_act_trace(uint16_t msg) { return SCMP_ACT_TRACE(msg); }
static inline uint32_t wd_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t wd_scmp_act_notify(void) { return SCMP_ACT_NOTIFY; }
static inline uint32_t wd_scmp_act_log(void) { return SCMP_ACT_LOG; }
static inline uint32_t wd_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t wd_scmp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }
static inline uint32_t wd_scmp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline uint32_t wd_scmp_arch_native(void) { return SCMP_ARCH_NATIVE; }
static inline uint32_t wd_scmp_arch_x86(void) { return SCMP_ARCH_X86; }
static inline uint32_t wd_scmp_arch_x86_64(void) { return SCMP_ARCH_X86_64; }
static inline uint32_t wd_scmp_arch_x32(void) { return SCMP_ARCH_X32; }
static inline uint32_t wd_scmp_arch_aarch64(void) { return SCMP_ARCH_AARCH64; }
static inline uint32_t wd_scmp_arch_arm(void) { return SCMP_ARCH_ARM; }

#endif
