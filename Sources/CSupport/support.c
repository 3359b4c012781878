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
