#ifndef MESA_CSUPPORT_H
#define MESA_CSUPPORT_H

#include <stdint.h>

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

/// Stops OpenBLAS's idle server threads, if this OpenBLAS has them (found with dlsym; a no-op
/// otherwise). A threaded OpenBLAS starts one server thread per extra core when it loads, and
/// each spins on sched_yield for about 2^28 cycles (0.13 s at 2 GHz) before it sleeps: on a
/// 2-core machine it takes a core from the first 0.13 s of every process although mesa keeps
/// BLAS single-threaded. OpenBLAS starts them again if it is ever asked for more threads.
/// Returns 1 when it stopped them, 0 when there was nothing to stop.
int mesa_stop_idle_blas_threads(void);
/// Whether OpenBLAS's server threads are running: 1 yes, 0 no, -1 unknown (no such symbol).
int mesa_blas_server_threads_running(void);

/// Counts one tensor buffer of `bytes` bytes (called by every TensorStorage allocation; atomic).
void mesa_count_tensor_allocation(long bytes);
/// Tensor buffers allocated since the process started, and their bytes.
long mesa_tensor_allocation_count(void);
long mesa_tensor_allocated_byte_count(void);
/// Tensor buffers allocated by the calling thread.
long mesa_tensor_allocation_count_this_thread(void);

/// The tensor buffer pool (tensorpool.c): freed buffers kept per size (rounded up to 64 bytes)
/// and reused, at most a limit of free bytes held, least recently used sizes released first.
/// Thread safe (one lock per pool).
typedef struct MesaBufferPool MesaBufferPool;
/// The process's pool, behind every TensorStorage; its limit defaults to MESA_TENSOR_POOL_MIB
/// (else 1024 MiB), MESA_TENSOR_POOL_POISON=1 turns its poison on, and its misses are counted by mesa_count_tensor_allocation.
MesaBufferPool *mesa_tensor_buffer_pool(void);
/// A separate pool (tests); destroy frees what it holds.
MesaBufferPool *mesa_buffer_pool_create(long limitBytes);
void mesa_buffer_pool_destroy(MesaBufferPool *pool);
/// A 64-byte-aligned buffer of at least `bytes` bytes: a freed one of the same rounded size
/// when the pool holds one, else fresh from the C allocator. Contents undefined.
void *mesa_buffer_pool_take(MesaBufferPool *pool, long bytes);
/// Returns a buffer taken with the same `bytes` to the pool, or frees it when keeping it would
/// pass the limit even after releasing every other size class.
void mesa_buffer_pool_give(MesaBufferPool *pool, void *p, long bytes);
void mesa_buffer_pool_set_limit(MesaBufferPool *pool, long bytes);
long mesa_buffer_pool_limit(MesaBufferPool *pool);
long mesa_buffer_pool_held_bytes(MesaBufferPool *pool);
long mesa_buffer_pool_hits(MesaBufferPool *pool);
long mesa_buffer_pool_misses(MesaBufferPool *pool);
/// Size classes released so far (at the limit of bytes or of classes, least recently used first).
long mesa_buffer_pool_releases(MesaBufferPool *pool);
/// When on, every buffer handed out is first filled with 0xFF bytes (NaN in every float), so a
/// read before a write shows (tests).
void mesa_buffer_pool_set_poison(MesaBufferPool *pool, int on);


/// Queues the `bytes` bytes from `p` for the score-core kernels below to ask the caches for (into
/// L2), a few lines per block of rows while they compute (scorecore512.c). A hint: nothing is read
/// or written. Per thread; at most four regions are queued (a fifth drops the oldest); without
/// AVX-512 nothing is queued.
void mesa_prefetch_soon(const void *p, long bytes);
/// Lines this thread's queue still holds (tests), and emptying it.
long mesa_prefetch_soon_pending(void);
void mesa_prefetch_soon_clear(void);

/// Whether this CPU (and OS) runs AVX-512 F/BW/DQ/VL with FMA: the mesa512_ kernels below may
/// only be called when it says 1 (always 0 where the CPU is not x86-64).
int mesa_cpu_has_avx512(void);
/// 16-lane Float32 score-core kernels (scorecore512.c), bit for bit MesaNN's causalScores,
/// causalMix, causalMixTransposed, causalSoftmaxRows and causalSoftmaxBackwardRows (same panel
/// layouts: rows [T][dp], transposed [d][tp], scores [T][tp], dp and tp rounded up to 8).
void mesa512_causal_scores(const float *x, const float *yT, long t, long d, float scale, float *out);
void mesa512_causal_mix(const float *a, const float *v, long t, long d, float *out);
void mesa512_causal_mix_transposed(const float *a, const float *g, long t, long d, float *out);
/// The same products with the row operands and the mixes' output read and written in place, rows
/// [T] at any stride, columns < d only (nothing at or beyond column d is read or written): the
/// scores' x rows (stride xStride), the mixes' v / g rows and out rows (out = scale · the mix, one
/// multiplication after each chain). Bit for bit gatherRows → the panel kernel → scatterRows.
void mesa512_causal_scores_strided(const float *x, long xStride, const float *yT, long t, long d, float scale,
                                   float *out);
void mesa512_causal_mix_strided(const float *a, const float *v, long vStride, long t, long d, float scale, float *out,
                                long outStride);
void mesa512_causal_mix_transposed_strided(const float *a, const float *g, long gStride, long t, long d, float scale,
                                           float *out, long outStride);
void mesa512_causal_softmax_rows(float *a, long t);
void mesa512_causal_softmax_backward_rows(const float *a, float *dA, long t);
/// The head panels' gathers and scatters: MesaNN's gatherRows, gatherTransposed, scatterRows.
void mesa512_gather_rows(const float *src, long stride, long t, long d, float *dst);
void mesa512_gather_transposed(const float *src, long stride, long t, long d, float *dst);
void mesa512_scatter_rows(const float *src, long t, long d, float scale, float *dst, long stride);

/// The LDS batch eight sequences at a time (data512.c), bit for bit MesaTasks'
/// LinearDynamicalSystem+Batch.swift: lane l of a group is sequence b0 + l. Call only when
/// mesa_cpu_has_avx512() said 1. `work` holds mesa_lds_work_doubles(n, count) Doubles;
/// count = T + 1; inputs and targets point at sequence b0's [T][n] block (Float32 when float32
/// is 1, else Float64); lanes (1…8) is how many sequences the group has. mesa512_lds_lanes takes
/// the default stream's draws, lane by lane ([lanes][n²] teacher normals, or a shared Wᵀ
/// [n²]; [lanes][n] s_1; [lanes][T·n] noise normals); mesa512_lds_vectorized_lanes draws the
/// vectorized sampler's stream itself (key = seed's two words, counter (block, b0 + l, step,
/// purpose)). mesa512_vector_normals is VectorNormals.normals.
long mesa_lds_work_doubles(long n, long count);
void mesa512_lds_lanes(long n, long count, double sigma, double clip, const double *teachers,
                       const double *sharedWT, const double *initial, const double *noise, long lanes,
                       void *inputs, void *targets, int float32, double *work);
void mesa512_lds_vectorized_lanes(long n, long count, double sigma, double clip, const double *sharedWT,
                                  const uint32_t *key, uint32_t step, uint32_t purpose, uint32_t firstIndex,
                                  long lanes, void *inputs, void *targets, int float32, double *work);
void mesa512_vector_normals(long count, uint32_t first, const uint32_t *counter, const uint32_t *key, double *out);
/// philox4x32x8 (MesaTensor's PhiloxBlocks.swift): eight blocks' 32 words, block by block.
void mesa512_philox_words(uint32_t first, const uint32_t *counter, const uint32_t *key, uint32_t *out);
/// C = op(A)·op(B) + (accumulate ? C : 0) for row-major Float32, A not transposed, K <= 256
/// (gemm512.c; AVX-512, only after mesa_cpu_has_avx512()): bit for bit OpenBLAS SkylakeX's
/// cblas_sgemm with alpha 1, beta accumulate. Returns 0 (C untouched) when B is transposed and its
/// panel (K × N rounded up to 16) would pass 4 MiB, or when it could not get memory: use OpenBLAS then.
int mesa512_sgemm_small(int transB, long m, long n, long k, const float *a, long lda,
                        const float *b, long ldb, int accumulate, float *c, long ldc);
/// C = Aᵀ·B + (accumulate ? C : 0) for row-major Float32, A [K × M] (lda), B [K × N] (ldb)
/// (gemm512.c; AVX-512, only after mesa_cpu_has_avx512()). blockQ > 0: K in blocks of OpenBLAS's
/// level-3 rule (at most blockQ, halved to a multiple of blockUnroll), one FMA chain per block from
/// +0, C = acc + (C or +0) after each block; blockQ = 0: one chain over K, C = acc + C or C = acc.
/// Returns 0 (C untouched) for an empty K.
int mesa512_sgemm_tn(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                     int accumulate, long blockQ, long blockUnroll, float *c, long ldc);

/// AdamW's constants in Float32, as MesaNN's AdamWConstants<Float> holds them.
typedef struct {
    float b1, b2, eps, rate, ic1, ic2, decay, sc, ec;
} MesaAdamWConstants;
/// AdamW's element-wise update of n Float32 parameters (adamw512.c), bit for bit MesaNN's
/// adamwElementsReference: 16 lanes (AVX-512, only after mesa_cpu_has_avx512()) or 8 (AVX2 and
/// FMA, any x86-64 CPU that runs mesa's Swift code). No-ops where the CPU is not x86-64.
void mesa512_adamw(long n, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c);
void mesa_adamw_avx2(long n, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c);

/// The single-precision FMA rate of a register-only loop (fmapeak.c): `iterations` rounds of 12
/// independent fused multiply-adds of 16 lanes (AVX-512) or 8 (AVX2 + FMA) on each of `threads`
/// threads at once, in GFLOP/s (2 per lane per FMA). 0 where the CPU has neither.
double mesa_fma_peak_gflops(int threads, long iterations);

/// The MLP's GELU on n Float32 values, 16 lanes at a time (gelu512.c; AVX-512, only after
/// mesa_cpu_has_avx512()): bit for bit MesaTensor's geluValueAndDerivative (tanh form, fastTanh).
void mesa512_gelu(const float *x, float *value, long n);
void mesa512_gelu_and_derivative(const float *x, float *value, float *derivative, long n);

#endif
