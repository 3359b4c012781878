#include "CSupport.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void mesa_keep_freed_memory(void) {
#if defined(__GLIBC__)
    /* 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

const char *mesa_preferred_openblas_core(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return 0;
}

#if defined(__linux__)
#include <unistd.h>
#endif

void mesa_reexec_self(char **argv) {
#if defined(__linux__)
    execv("/proc/self/exe", argv);
#else
    (void)argv;
#endif
}
