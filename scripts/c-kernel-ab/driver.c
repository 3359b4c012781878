// scripts/c-kernel-ab.sh's driver: the GELU loops and the causal softmax rows of an older revision
// (symbols renamed old_*) against the working tree's (mesa512_*), outside Swift. First the bits:
// every length 0…199 (GELU; draws at four spreads and ±0, ±∞, NaN, a subnormal, the tanh clamp's
// edges) and every T 1…101 (softmax rows; spreads up to ±100, ±∞, rows of equal scores), outputs
// pre-filled so that writes past the end show. Then the time of each, in cache (one MLP tile of
// 512 × 160 for GELU; 8 heads of T 50 for the softmax rows), old and new alternating, the fastest
// of ROUNDS rounds. Exit 1 if any bits differ.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void old_gelu(const float *x, float *value, long n);
void old_gelu_and_derivative(const float *x, float *value, float *derivative, long n);
void mesa512_gelu(const float *x, float *value, long n);
void mesa512_gelu_and_derivative(const float *x, float *value, float *derivative, long n);
void old_causal_softmax_rows(float *a, long t);
void mesa512_causal_softmax_rows(float *a, long t);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static float draw(void) { return rand() / (float)RAND_MAX - 0.5f; }

static int geluBits(void) {
    int bad = 0;
    for (long n = 0; n < 200; n++) {
        float *x = malloc(4 * n + 4), *a = malloc(4 * n + 64), *b = malloc(4 * n + 64), *c = malloc(4 * n + 64),
              *d = malloc(4 * n + 64);
        for (int rep = 0; rep < 5; rep++) {
            const float spread[5] = {1, 8, 30, 1e-30f, 3};
            for (long i = 0; i < n; i++) x[i] = draw() * spread[rep];
            const float special[8] = {NAN, INFINITY, -INFINITY, -0.0f, 1e-42f, 9.9f, -9.9f, 0.0f};
            for (long i = 0; i < 8 && 3 * i < n; i++) x[3 * i] = special[i];
            memset(a, 0x55, 4 * n + 64); memset(b, 0x55, 4 * n + 64);
            memset(c, 0x55, 4 * n + 64); memset(d, 0x55, 4 * n + 64);
            old_gelu(x, a, n); mesa512_gelu(x, b, n);
            if (memcmp(a, b, 4 * n + 64)) bad++;
            old_gelu_and_derivative(x, a, c, n); mesa512_gelu_and_derivative(x, b, d, n);
            if (memcmp(a, b, 4 * n + 64) || memcmp(c, d, 4 * n + 64)) bad++;
        }
        free(x); free(a); free(b); free(c); free(d);
    }
    return bad;
}

static int softmaxBits(void) {
    int bad = 0;
    for (long t = 1; t <= 101; t++) {
        const long tp = (t + 7) & ~7L, n = t * tp;
        float *s = malloc(4 * n), *a = malloc(4 * n), *b = malloc(4 * n);
        for (int rep = 0; rep < 20; rep++) {
            const float spread = rep % 4 == 0 ? 200 : rep % 4 == 1 ? 10 : 1;
            for (long i = 0; i < n; i++) s[i] = draw() * spread;
            if (rep == 3) { s[0] = INFINITY; if (t > 3) s[tp + 1] = -INFINITY; }
            if (rep == 5) for (long i = 0; i < n; i++) s[i] = -100.0f;
            memcpy(a, s, 4 * n); memcpy(b, s, 4 * n);
            old_causal_softmax_rows(a, t); mesa512_causal_softmax_rows(b, t);
            if (memcmp(a, b, 4 * n)) bad++;
        }
        free(s); free(a); free(b);
    }
    return bad;
}

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 300;
    srand(1);
    const int gb = geluBits(), sb = softmaxBits();
    printf("bits: GELU %s (%d of 2000 calls differ), softmax rows %s (%d of 2020 calls differ)\n",
           gb ? "DIFFER" : "same", gb, sb ? "DIFFER" : "same", sb);
    const long n = 512 * 160, t = 50, tp = 56, heads = 8;
    float *x = aligned_alloc(64, 4 * n), *v = aligned_alloc(64, 4 * n), *dv = aligned_alloc(64, 4 * n);
    float *s = aligned_alloc(64, 4 * heads * t * tp), *a = aligned_alloc(64, 4 * heads * t * tp);
    for (long i = 0; i < n; i++) x[i] = draw() * 6;
    for (long i = 0; i < heads * t * tp; i++) s[i] = draw() * 4;
    double best[6] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
    for (int r = 0; r < rounds; r++) {
        double t0 = now(); old_gelu(x, v, n);
        double t1 = now(); mesa512_gelu(x, v, n);
        double t2 = now(); old_gelu_and_derivative(x, v, dv, n);
        double t3 = now(); mesa512_gelu_and_derivative(x, v, dv, n);
        double t4 = now();
        memcpy(a, s, 4 * heads * t * tp);
        double t5 = now(); for (long h = 0; h < heads; h++) old_causal_softmax_rows(a + h * t * tp, t);
        double t6 = now();
        memcpy(a, s, 4 * heads * t * tp);
        double t7 = now(); for (long h = 0; h < heads; h++) mesa512_causal_softmax_rows(a + h * t * tp, t);
        double t8 = now();
        const double d[6] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5, t8 - t7};
        for (int i = 0; i < 6; i++) if (d[i] < best[i]) best[i] = d[i];
    }
    printf("gelu                 old %7.3f  new %7.3f ns per element  new/old %.2f\n", best[0] / n * 1e9,
           best[1] / n * 1e9, best[1] / best[0]);
    printf("gelu and derivative  old %7.3f  new %7.3f ns per element  new/old %.2f\n", best[2] / n * 1e9,
           best[3] / n * 1e9, best[3] / best[2]);
    printf("softmax rows, T 50   old %7.0f  new %7.0f ns per head     new/old %.2f\n", best[4] / heads * 1e9,
           best[5] / heads * 1e9, best[5] / best[4]);
    return gb || sb;
}
