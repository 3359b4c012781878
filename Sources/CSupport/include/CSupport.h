#ifndef MESA_CSUPPORT_H
#define MESA_CSUPPORT_H

/// Keeps freed memory inside the process (glibc's mmap threshold raised to its 32 MiB
/// maximum, its trim threshold to 1 GiB), so the large buffers a training step frees are
/// reused by the next step without page faults. A no-op where the C library is not glibc.
void mesa_keep_freed_memory(void);

#endif
