#include <seccomp.h>
#include <errno.h>

// Action constructors are macros in seccomp.h; Swift sees these instead.
static inline uint32_t crucible_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t crucible_scmp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline uint32_t crucible_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t crucible_scmp_act_errno(uint32_t e) { return SCMP_ACT_ERRNO(e); }
static inline uint32_t crucible_scmp_arch_native(void) { return SCMP_ARCH_NATIVE; }
