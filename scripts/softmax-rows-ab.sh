#!/usr/bin/env bash
# A/B of the forward softmax rows (mesa512_causal_softmax_rows in scorecore512.c):
# `scripts/softmax-rows-ab.sh [OLD_REV] [ROUNDS]` compiles OLD_REV's version (default 455d64d: each
# row's exps one after another) and the working tree's into one program and times them
# interleaved, one thread's CPU, median of 21 repetitions (ROUNDS times, default 3), for T 13, 20, 50
# and 101: 1024 heads (B 256 × H 4), each head's T × T₈ scores copied into a buffer that stays in
# L1 and then turned into softmax rows, as a training step's forward does right after the scores;
# the copies alone are timed too and subtracted. The two kernels' outputs are compared bit for bit.
# Needs clang and an AVX-512 CPU.
set -euo pipefail
rev=${1:-455d64d} rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/old-scorecore.sh"
old_scorecore_dir "$rev"
cat > "$dir/ab.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void mesa512_causal_softmax_rows(float *a, long t);
void old512_causal_softmax_rows(float *a, long t);
typedef void (*fn)(float *, long);
static double now(void) { struct timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static void noop(float *a, long t) { (void)a; (void)t; }
int main(void) {
    const long heads = 1024, lengths[4] = {13, 20, 50, 101};
    fn f[3] = {noop, old512_causal_softmax_rows, mesa512_causal_softmax_rows};
    srand(1);
    for (int li = 0; li < 4; li++) {
        const long t = lengths[li], tp = (t + 7) & ~7L, n = t * tp;
        float *src = malloc(sizeof(float) * heads * n), *hot = aligned_alloc(64, sizeof(float) * ((n + 15) & ~15L));
        float *out[2] = {malloc(sizeof(float) * heads * n), malloc(sizeof(float) * heads * n)};
        for (long i = 0; i < heads * n; i++) src[i] = 6.0f * ((float)rand() / (float)RAND_MAX - 0.5f);
        double ts[3][21];
        for (int rep = 0; rep < 21; rep++)
            for (int v = 0; v < 3; v++) {
                const double a = now();
                for (long h = 0; h < heads; h++) {
                    memcpy(hot, src + h * n, sizeof(float) * n);
                    f[v](hot, t);
                    if (v > 0 && rep == 0) memcpy(out[v - 1] + h * n, hot, sizeof(float) * n);
                }
                ts[v][rep] = (now() - a) * 1e3;
            }
        for (int v = 0; v < 3; v++) qsort(ts[v], 21, sizeof(double), cmp);
        const double copy = ts[0][10], o = ts[1][10] - copy, w = ts[2][10] - copy;
        printf("T %3ld  1024 heads: old %.3f ms  new %.3f ms  new/old %.3f  (copies alone %.3f ms)  outputs %s\n", t, o, w,
               w / o, copy, memcmp(out[0], out[1], sizeof(float) * heads * n) ? "DIFFER" : "same bits");
        free(src); free(hot); free(out[0]); free(out[1]);
    }
    return 0;
}
C
clang -O3 -I "$root/Sources/CSupport/include" -o "$dir/ab" "$dir/ab.c" "$dir/old.c" "$root/Sources/CSupport/scorecore512.c"
for r in $(seq "$rounds"); do echo "round $r"; "$dir/ab"; done
