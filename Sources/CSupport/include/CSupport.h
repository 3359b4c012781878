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

/// Counts one tensor buffer of `bytes` bytes (called by every TensorStorage allocation; atomic).
void mesa_count_tensor_allocation(long bytes);
/// Tensor buffers allocated since the process started, and their bytes.
long mesa_tensor_allocation_count(void);
long mesa_tensor_allocated_byte_count(void);
/// Tensor buffers allocated by the calling thread.
long mesa_tensor_allocation_count_this_thread(void);

#endif
