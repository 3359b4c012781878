// The machine's FMA peak as a program can reach it: a register-only loop of independent
// single-precision fused multiply-adds (no loads, no stores), on 1 and on N threads at once.
// Twelve accumulators cover the FMA latency (4-5 cycles) on two ports. AVX-512 (16 lanes) where
// the compiler targets it, else AVX2 + FMA (8 lanes). Prints GFLOP/s (2 FLOP per lane per FMA).
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1(x) _mm512_set1_ps(x)
static float first(vec v) { return _mm512_cvtss_f32(v); }
#else
typedef __m256 vec;
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1(x) _mm256_set1_ps(x)
static float first(vec v) { return _mm256_cvtss_f32(v); }
#endif

static long iterations;
static volatile float sink;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static void *run(void *unused) {
    (void)unused;
    vec a0 = SET1(1.0f), a1 = SET1(1.1f), a2 = SET1(1.2f), a3 = SET1(1.3f), a4 = SET1(1.4f), a5 = SET1(1.5f);
    vec a6 = SET1(1.6f), a7 = SET1(1.7f), a8 = SET1(1.8f), a9 = SET1(1.9f), a10 = SET1(2.0f), a11 = SET1(2.1f);
    const vec m = SET1(0.999999f), c = SET1(1e-7f);
    for (long i = 0; i < iterations; i++) {
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
        __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    sink = first(a0) + first(a1) + first(a2) + first(a3) + first(a4) + first(a5) + first(a6) + first(a7) +
           first(a8) + first(a9) + first(a10) + first(a11);
    return 0;
}

static double gflops(int threads) {
    pthread_t t[64];
    double start = now();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, run, 0);
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    double seconds = now() - start;
    return threads * (double)iterations * 12 * LANES * 2 / seconds / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (threads < 1 || threads > 64 || rounds < 1) { fprintf(stderr, "usage: fma_peak [THREADS 1-64] [ROUNDS]\n"); return 2; }
    iterations = 50 * 1000 * 1000;
    printf("FMA peak, %d-lane single precision, register-only (GFLOP/s; best of %d rounds)\n", LANES, rounds);
    for (int n = 1; n <= threads; n = n == threads ? threads + 1 : (n * 2 > threads ? threads : n * 2)) {
        double best = 0;
        for (int r = 0; r < rounds; r++) { double g = gflops(n); if (g > best) best = g; }
        printf("  %2d thread%s  %8.1f\n", n, n == 1 ? " " : "s", best);
    }
    return 0;
}
