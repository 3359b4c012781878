// scripts/score-lanes.sh: the score core's backward per (sequence, head) with scorecore512.c's
// kernels, on one attention tile (10 sequences × 4 heads, T 50, d 20) in cache, kernel by kernel
// (TSC cycles per pair, mean over 7 rounds), and the whole backward and forward per pair (fastest round).
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <x86intrin.h>
#include "CSupport.h"
static float frand(void) { return (rand() / (float)RAND_MAX) * 2 - 1; }
int main(int argc, char **argv) {
    const long B = 10, T = 50, H = 4, dk = 20, dv = 20, W = 2 * H * dk + H * dv, hv = H * dv;
    const int reps = argc > 1 ? atoi(argv[1]) : 200;
    const long tp = (T + 7) & ~7L;
    float *rows = aligned_alloc(64, 4 * B * T * W), *dO = aligned_alloc(64, 4 * B * T * hv), *g = aligned_alloc(64, 4 * B * T * W);
    float *A = aligned_alloc(64, 4 * B * H * T * tp), *o = aligned_alloc(64, 4 * B * T * hv);
    for (long i = 0; i < B * T * W; i++) rows[i] = frand() * 2;
    for (long i = 0; i < B * T * hv; i++) dO[i] = frand();
    float *kT = aligned_alloc(64, 4 * 24 * tp), *vT = aligned_alloc(64, 4 * 24 * tp), *dA = aligned_alloc(64, 4 * T * tp);
    const float scale = 1 / sqrtf(dk);
    for (long b = 0; b < B; b++) for (long h = 0; h < H; h++) {
        const float *base = rows + b * T * W; float *a = A + (b * H + h) * T * tp;
        mesa512_gather_transposed(base + H * dk + h * dk, W, T, dk, kT);
        mesa512_causal_scores_strided(base + h * dk, W, kT, T, dk, scale, a);
        mesa512_causal_softmax_rows(a, T);
    }
    double best = 1e30, bestF = 1e30;
    unsigned long long sec[6] = {0};
    for (int round = 0; round < 7; round++) {
        uint64_t c0 = __rdtsc();
        for (int rep = 0; rep < reps; rep++)
            for (long b = 0; b < B; b++) for (long h = 0; h < H; h++) {
                const float *base = rows + b * T * W; const float *a = A + (b * H + h) * T * tp;
                const float *q = base + h * dk, *k = base + H * dk + h * dk, *v = base + 2 * H * dk + h * dv;
                const float *d = dO + b * T * hv + h * dv; float *gb = g + b * T * W;
                uint64_t t0 = __rdtsc();
                mesa512_gather_transposed(v, W, T, dv, vT);
                uint64_t t1 = __rdtsc();
                mesa512_causal_scores_strided(d, hv, vT, T, dv, 1, dA);
                uint64_t t2 = __rdtsc();
                mesa512_causal_softmax_backward_rows(a, dA, T);
                uint64_t t3 = __rdtsc();
                mesa512_causal_mix_transposed_strided(a, d, hv, T, dv, 1, gb + 2 * H * dk + h * dv, W);
                uint64_t t4 = __rdtsc();
                mesa512_causal_mix_strided(dA, k, W, T, dk, scale, gb + h * dk, W);
                uint64_t t5 = __rdtsc();
                mesa512_causal_mix_transposed_strided(dA, q, W, T, dk, scale, gb + H * dk + h * dk, W);
                uint64_t t6 = __rdtsc();
                sec[0] += t1 - t0; sec[1] += t2 - t1; sec[2] += t3 - t2; sec[3] += t4 - t3; sec[4] += t5 - t4; sec[5] += t6 - t5;
            }
        uint64_t c1 = __rdtsc();
        double x = (double)(c1 - c0) / reps / (B * H); if (x < best) best = x;
        uint64_t f0 = __rdtsc();
        for (int rep = 0; rep < reps; rep++)
            for (long b = 0; b < B; b++) for (long h = 0; h < H; h++) {
                const float *base = rows + b * T * W;
                mesa512_gather_transposed(base + H * dk + h * dk, W, T, dk, kT);
                mesa512_causal_scores_strided(base + h * dk, W, kT, T, dk, scale, dA);
                mesa512_causal_softmax_rows(dA, T);
                mesa512_causal_mix_strided(dA, base + 2 * H * dk + h * dv, W, T, dv, 1, o + b * T * hv + h * dv, hv);
            }
        double y = (double)(__rdtsc() - f0) / reps / (B * H); if (y < bestF) bestF = y;
    }
    const char *names[] = {"gather vT", "dA scores", "softmax bwd", "dV mixT", "dQ mix", "dK mixT"};
    for (int i = 0; i < 6; i++) printf("%s %.0f\n", names[i], sec[i] / 7.0 / reps / (B * H));
    printf("backward per pair %.0f TSC cycles (forward %.0f)\n", best, bestF);
}
