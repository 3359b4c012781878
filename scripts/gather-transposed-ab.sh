#!/usr/bin/env bash
# A/B of the score core's transposed-panel gather (mesa512_gather_transposed in scorecore512.c):
# `scripts/gather-transposed-ab.sh [OLD_REV] [ROUNDS]` compiles OLD_REV's version (default c376da6:
# one masked gather per column) and the working tree's (16×16 in-register transposes, gathers at the
# edges) into one program and times them interleaved, one thread's CPU, median of 21 repetitions
# (ROUNDS times, default 3): "hot" gathers one head's K panel B·H times; "stream" gathers the K
# panels of B 256 × H 4 heads of a [B][T][3·H·d] QKV buffer (T 50, d 20: 12 MB, past L2), as a
# linear-2 step reads them. Needs clang and an AVX-512 CPU.
set -euo pipefail
rev=${1:-c376da6} rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/old-scorecore.sh"
old_scorecore_dir "$rev"
cat > "$dir/ab.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void mesa512_gather_transposed(const float *src, long stride, long t, long d, float *dst);
void old512_gather_transposed(const float *src, long stride, long t, long d, float *dst);
typedef void (*fn)(const float *, long, long, long, float *);
static double now(void) { struct timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
int main(void) {
    const long B = 256, H = 4, T = 50, d = 20, s = 3 * H * d;
    float *src = malloc(sizeof(float) * B * T * s), *dst = aligned_alloc(64, sizeof(float) * d * 64);
    for (long i = 0; i < B * T * s; i++) src[i] = (float)(i % 1000);
    fn f[2] = {old512_gather_transposed, mesa512_gather_transposed};
    const char *name[2] = {"old", "new"};
    for (int mode = 0; mode < 2; mode++) {
        double ts[2][21];
        for (int rep = 0; rep < 21; rep++)
            for (int v = 0; v < 2; v++) {
                const double a = now();
                if (mode == 0) for (long k = 0; k < B * H; k++) f[v](src + H * d, s, T, d, dst);
                else for (long b = 0; b < B; b++) for (long h = 0; h < H; h++) f[v](src + (b * T * s + H * d + h * d), s, T, d, dst);
                ts[v][rep] = (now() - a) / (double)(B * H) * 1e9;
            }
        for (int v = 0; v < 2; v++) {
            qsort(ts[v], 21, sizeof(double), cmp);
            printf("%-6s %s: median %.1f ns per panel (range %.1f–%.1f)\n", mode ? "stream" : "hot", name[v], ts[v][10], ts[v][0], ts[v][20]);
        }
    }
    return 0;
}
C
clang -O2 -I"$root/Sources/CSupport/include" "$dir/ab.c" "$dir/old.c" "$root/Sources/CSupport/scorecore512.c" -o "$dir/ab" -lm
for ((i = 0; i < rounds; i++)); do "$dir/ab"; done
