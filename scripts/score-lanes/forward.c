// scripts/score-lanes.sh: the score core's forward on one attention tile (10 sequences × 4 heads,
// T 50, d_k = d_v 20, the [Q K V] rows of softmax-7's layers), per (sequence, head) with
// scorecore512.c's kernels as the layer runs them (transposed gather of K, scores, softmax rows,
// mix) against lanes.c's 16 pairs per vector; outputs compared bit for bit; TSC cycles per pair,
// the fastest of 7 rounds. Built with -DLANES_TIMING it also prints lanes.c's sections.
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <x86intrin.h>
#include "CSupport.h"
long lanes_scratch(long t, long dk, long dv);
void lanes_forward(const float *rows, const long *off, int pairs, long qkStride, long vStride,
                   float *out, long outStride, long t, long dk, long dv, float scale, int softmax, float *keep, float *scratch);
static float frand(void) { return (rand() / (float)RAND_MAX) * 2 - 1; }
int main(int argc, char **argv) {
    const long B = 10, T = 50, H = 4, dk = 20, dv = 20, W = 2 * H * dk + H * dv, hv = H * dv;
    const int reps = argc > 1 ? atoi(argv[1]) : 200;
    float *rows = aligned_alloc(64, 4 * B * T * W), *o1 = aligned_alloc(64, 4 * B * T * hv), *o2 = aligned_alloc(64, 4 * B * T * hv);
    for (long i = 0; i < B * T * W; i++) rows[i] = frand() * 2;
    const long tp = (T + 7) & ~7L;
    float *a = aligned_alloc(64, 4 * T * tp), *kT = aligned_alloc(64, 4 * 24 * tp);
    float *scratch = aligned_alloc(64, 4 * lanes_scratch(T, dk, dv) + 64);
    float *keep = aligned_alloc(64, 4 * 16 * T * (T + 1) / 2);
    const float scale = 1 / sqrtf(dk);
    double best1 = 1e30, best2 = 1e30;
    for (int round = 0; round < 7; round++) {
        uint64_t c0 = __rdtsc();
        for (int rep = 0; rep < reps; rep++)
            for (long b = 0; b < B; b++)
                for (long h = 0; h < H; h++) {
                    const float *base = rows + b * T * W;
                    mesa512_gather_transposed(base + H * dk + h * dk, W, T, dk, kT);
                    mesa512_causal_scores_strided(base + h * dk, W, kT, T, dk, scale, a);
                    mesa512_causal_softmax_rows(a, T);
                    mesa512_causal_mix_strided(a, base + 2 * H * dk + h * dv, W, T, dv, 1, o1 + b * T * hv + h * dv, hv);
                }
        uint64_t c1 = __rdtsc();
        for (int rep = 0; rep < reps; rep++)
            for (long p0 = 0; p0 < B * H; p0 += 16) {
                long off[64];
                int pairs = B * H - p0 < 16 ? (int)(B * H - p0) : 16;
                for (int p = 0; p < pairs; p++) {
                    long b = (p0 + p) / H, h = (p0 + p) % H;
                    off[p] = b * T * W + h * dk; off[16 + p] = b * T * W + H * dk + h * dk;
                    off[32 + p] = b * T * W + 2 * H * dk + h * dv; off[48 + p] = b * T * hv + h * dv;
                }
                lanes_forward(rows, off, pairs, W, W, o2, hv, T, dk, dv, scale, 1, argc > 2 ? keep : NULL, scratch);
            }
        uint64_t c2 = __rdtsc();
        double x1 = (double)(c1 - c0) / reps / (B * H), x2 = (double)(c2 - c1) / reps / (B * H);
        if (x1 < best1) best1 = x1; if (x2 < best2) best2 = x2;
    }
#ifdef LANES_TIMING
    extern unsigned long long sec[6];
    const char *names[] = {"transposes in", "scores", "softmax", "mix", "transposes out"};
    for (int i = 0; i < 5; i++) printf("lanes section %-15s %5.0f per pair (all rounds)\n", names[i], sec[i] / 7.0 / reps / (B * H));
#endif
    long diff = 0;
    for (long i = 0; i < B * T * hv; i++) if (memcmp(o1 + i, o2 + i, 4)) diff++;
    printf("per pair (TSC cycles): per-pair kernels %.0f, lanes %.0f, ratio %.3f; differing elements %ld of %ld\n",
           best1, best2, best2 / best1, diff, B * T * hv);
}
