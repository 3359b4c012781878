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
#include <dlfcn.h>
#endif

int mesa_blas_server_threads_running(void) {
#if defined(__linux__)
    const int *avail = (const int *)dlsym(RTLD_DEFAULT, "blas_server_avail");
    return avail ? (*avail != 0) : -1;
#else
    return -1;
#endif
}

int mesa_stop_idle_blas_threads(void) {
#if defined(__linux__)
    /* OpenBLAS's own shutdown (what it runs before a fork): wakes its server threads with an
       exit request, joins them and marks the server unavailable, so that a later threaded
       call would start it again. */
    int (*shutdown)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (!shutdown || mesa_blas_server_threads_running() != 1) return 0;
    shutdown();
    return 1;
#else
    return 0;
#endif
}

void mesa_reexec_self(char **argv) {
#if defined(__linux__)
    execv("/proc/self/exe", argv);
#else
    (void)argv;
#endif
}

#include <stdatomic.h>
static _Atomic long mesa_tensor_allocations;
static _Atomic long mesa_tensor_allocated_bytes;
static _Thread_local long mesa_tensor_allocations_here;

void mesa_count_tensor_allocation(long bytes) {
    atomic_fetch_add_explicit(&mesa_tensor_allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mesa_tensor_allocated_bytes, bytes, memory_order_relaxed);
    mesa_tensor_allocations_here += 1;
}

long mesa_tensor_allocation_count_this_thread(void) {
    return mesa_tensor_allocations_here;
}

long mesa_tensor_allocation_count(void) {
    return atomic_load_explicit(&mesa_tensor_allocations, memory_order_relaxed);
}

long mesa_tensor_allocated_byte_count(void) {
    return atomic_load_explicit(&mesa_tensor_allocated_bytes, memory_order_relaxed);
}
