#ifndef MESA_CSUPPORT_H
#define MESA_CSUPPORT_H

/// Keeps freed memory inside the process (glibc's mmap threshold raised to its 32 MiB
/// maximum, its trim threshold to 1 GiB), so the large buffers a training step frees are
/// reused by the next step without page faults. A no-op where the C library is not glibc.
void mesa_keep_freed_memory(void);

/// The OpenBLAS kernel family this CPU can run best ("SkylakeX" with AVX-512, "Haswell"
/// with AVX2 and FMA), or NULL where none of those applies (or on a CPU that is not x86).
/// OpenBLAS 0.3.21 names an unknown CPU model "Prescott" and falls back to SSE3 kernels,
/// 3-5x slower; mesa uses this to ask for the right kernels instead.
const char *mesa_preferred_openblas_core(void);

/// Replaces the running process with a fresh run of the same executable and arguments
/// (Linux: /proc/self/exe). Returns only if that fails.
void mesa_reexec_self(char **argv);

#endif
