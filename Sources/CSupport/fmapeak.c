// The machine's single-precision FMA peak as a program reaches it (issue 14: "the achieved
// fraction of the machine's peak (FMA units × clock)"): a register-only loop of independent
// fused multiply-adds, no loads or stores, twelve chains (enough to cover the FMA latency on two
// pipes), on `threads` threads at once. 16 lanes with AVX-512, 8 with AVX2 + FMA. `mesa bench
// --blas` prints it; a step's benchmark states its rate as a fraction of it.
#include "CSupport.h"

#include <pthread.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define MESA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define MESA_AVX2 __attribute__((target("avx2,fma")))

typedef struct { long iterations; int wide; float sink; } FMAWork;

// One loop per lane width: twelve chains a = a·m + c, kept in registers (the empty asm stops the
// compiler from folding them), summed at the end so that nothing is dead.
#define MESA_FMA_LOOP(NAME, TARGET, VEC, SET1, FMADD, FIRST)                                        \
    TARGET static float NAME(long iterations) {                                                    \
        VEC a0 = SET1(1.0f), a1 = SET1(1.1f), a2 = SET1(1.2f), a3 = SET1(1.3f), a4 = SET1(1.4f);    \
        VEC a5 = SET1(1.5f), a6 = SET1(1.6f), a7 = SET1(1.7f), a8 = SET1(1.8f), a9 = SET1(1.9f);    \
        VEC a10 = SET1(2.0f), a11 = SET1(2.1f);                                                     \
        const VEC m = SET1(0.999999f), c = SET1(1e-7f);                                             \
        for (long n = 0; n < iterations; n++) {                                                     \
            a0 = FMADD(a0, m, c); a1 = FMADD(a1, m, c); a2 = FMADD(a2, m, c); a3 = FMADD(a3, m, c);     \
            a4 = FMADD(a4, m, c); a5 = FMADD(a5, m, c); a6 = FMADD(a6, m, c); a7 = FMADD(a7, m, c);     \
            a8 = FMADD(a8, m, c); a9 = FMADD(a9, m, c); a10 = FMADD(a10, m, c); a11 = FMADD(a11, m, c); \
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));       \
            __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));     \
        }                                                                                           \
        return FIRST(a0) + FIRST(a1) + FIRST(a2) + FIRST(a3) + FIRST(a4) + FIRST(a5) + FIRST(a6)    \
            + FIRST(a7) + FIRST(a8) + FIRST(a9) + FIRST(a10) + FIRST(a11);                          \
    }

MESA_FMA_LOOP(fma16, MESA_AVX512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
MESA_FMA_LOOP(fma8, MESA_AVX2, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)

static void *fmaThread(void *p) {
    FMAWork *w = (FMAWork *)p;
    w->sink = w->wide ? fma16(w->iterations) : fma8(w->iterations);
    return 0;
}

double mesa_fma_peak_gflops(int threads, long iterations) {
    if (threads < 1 || threads > 256 || iterations < 1) return 0;
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    const int wide = mesa_cpu_has_avx512();
    pthread_t t[256];
    FMAWork work[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int started = 0;
    for (; started < threads; started++) {
        work[started] = (FMAWork){ iterations, wide, 0 };
        if (pthread_create(&t[started], 0, fmaThread, &work[started]) != 0) break;
    }
    for (int i = 0; i < started; i++) pthread_join(t[i], 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    const double seconds = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    return seconds > 0 ? (double)started * (double)iterations * 12.0 * (wide ? 16 : 8) * 2.0 / seconds / 1e9 : 0;
}

#else
double mesa_fma_peak_gflops(int threads, long iterations) { (void)threads; (void)iterations; return 0; }
#endif
