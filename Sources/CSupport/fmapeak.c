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

MESA_AVX512 static float fma16(long iterations) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + 0.1f * (float)i);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long n = 0; n < iterations; n++) {
        a[0] = _mm512_fmadd_ps(a[0], m, c); a[1] = _mm512_fmadd_ps(a[1], m, c); a[2] = _mm512_fmadd_ps(a[2], m, c);
        a[3] = _mm512_fmadd_ps(a[3], m, c); a[4] = _mm512_fmadd_ps(a[4], m, c); a[5] = _mm512_fmadd_ps(a[5], m, c);
        a[6] = _mm512_fmadd_ps(a[6], m, c); a[7] = _mm512_fmadd_ps(a[7], m, c); a[8] = _mm512_fmadd_ps(a[8], m, c);
        a[9] = _mm512_fmadd_ps(a[9], m, c); a[10] = _mm512_fmadd_ps(a[10], m, c); a[11] = _mm512_fmadd_ps(a[11], m, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]));
        __asm__ volatile("" : "+v"(a[6]), "+v"(a[7]), "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]));
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_cvtss_f32(a[i]);
    return s;
}

MESA_AVX2 static float fma8(long iterations) {
    __m256 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + 0.1f * (float)i);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (long n = 0; n < iterations; n++) {
        a[0] = _mm256_fmadd_ps(a[0], m, c); a[1] = _mm256_fmadd_ps(a[1], m, c); a[2] = _mm256_fmadd_ps(a[2], m, c);
        a[3] = _mm256_fmadd_ps(a[3], m, c); a[4] = _mm256_fmadd_ps(a[4], m, c); a[5] = _mm256_fmadd_ps(a[5], m, c);
        a[6] = _mm256_fmadd_ps(a[6], m, c); a[7] = _mm256_fmadd_ps(a[7], m, c); a[8] = _mm256_fmadd_ps(a[8], m, c);
        a[9] = _mm256_fmadd_ps(a[9], m, c); a[10] = _mm256_fmadd_ps(a[10], m, c); a[11] = _mm256_fmadd_ps(a[11], m, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]));
        __asm__ volatile("" : "+v"(a[6]), "+v"(a[7]), "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]));
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm256_cvtss_f32(a[i]);
    return s;
}

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
