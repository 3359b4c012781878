#!/usr/bin/env bash
# What one core gets from memory, alone and with the other core doing the same:
# `scripts/memory-bandwidth.sh [MIB] [ROUNDS]` streams over two buffers of MIB MiB each (default 400,
# far beyond any cache) and prints, per round (default 5), the GB/s of a read pass (a sum), a write
# pass of ordinary stores (each line is first read: read-for-ownership) and a write pass of
# non-temporal stores (no read), first for one process, then for two at once (one line each). This
# is where BENCHMARKS.md's "Stop 20" figures come from: a training step writes its kept activations
# with ordinary stores and reads them back in the backward. Needs clang (SSE2 only: any x86-64).
set -euo pipefail
usage="scripts/memory-bandwidth.sh [MIB] [ROUNDS]"
[ $# -le 2 ] || { echo "usage: $usage" >&2; exit 64; }
mib=${1:-400} rounds=${2:-5}
[[ $mib =~ ^[0-9]+$ && $mib -ge 1 && $mib -le 4096 ]] || { echo "memory-bandwidth: MIB must be 1…4096, got '$mib' (usage: $usage)" >&2; exit 64; }
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]] || { echo "memory-bandwidth: ROUNDS must be a positive integer, got '$rounds' (usage: $usage)" >&2; exit 64; }
command -v clang >/dev/null || { echo "memory-bandwidth: clang is not installed" >&2; exit 69; }
[ "$(uname -m)" = x86_64 ] || { echo "memory-bandwidth: x86-64 only" >&2; exit 69; }
dir=$(mktemp -d) pids=()
# The runs go to the background and are waited for, so that Ctrl-C or SIGTERM stops them too.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cat > "$dir/bw.c" <<'C'
#include <emmintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
    const long mib = atol(argv[1]), rounds = atol(argv[2]), n = mib * 1024 * 1024 / 4;
    float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4);
    if (!a || !b) { fprintf(stderr, "memory-bandwidth: cannot allocate 2 x %ld MiB\n", mib); return 1; }
    memset(a, 0, n * 4); memset(b, 0, n * 4);  // fault every page in before timing
    float sink = 0;
    for (long r = 0; r < rounds; r++) {
        const double t0 = now();
        __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (long i = 0; i < n; i += 16) {
            s0 = _mm_add_ps(s0, _mm_load_ps(a + i)); s1 = _mm_add_ps(s1, _mm_load_ps(a + i + 4));
            s2 = _mm_add_ps(s2, _mm_load_ps(a + i + 8)); s3 = _mm_add_ps(s3, _mm_load_ps(a + i + 12));
        }
        const double t1 = now();
        const __m128 one = _mm_set1_ps((float)r);
        for (long i = 0; i < n; i += 4) _mm_store_ps(b + i, one);
        const double t2 = now();
        for (long i = 0; i < n; i += 4) _mm_stream_ps(b + i, one);
        _mm_sfence();
        const double t3 = now();
        float l[4];
        _mm_storeu_ps(l, _mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
        sink += l[0] + b[(r * 7919) % n];
        const double bytes = n * 4.0;
        printf("%ld MiB: read %5.1f GB/s   write %5.1f GB/s   non-temporal write %5.1f GB/s\n", mib, bytes / (t1 - t0) / 1e9,
               bytes / (t2 - t1) / 1e9, bytes / (t3 - t2) / 1e9);
    }
    return sink == 12345.0f;  // keeps the passes from being optimized away
}
C
clang -O2 -o "$dir/bw" "$dir/bw.c"
echo "one process:"
"$dir/bw" "$mib" "$rounds" & pids=($!)
wait "${pids[0]}"
echo "two processes at once:"
"$dir/bw" "$mib" "$rounds" > "$dir/a" & pids=($!)
"$dir/bw" "$mib" "$rounds" > "$dir/b" & pids+=($!)
wait "${pids[0]}"; wait "${pids[1]}"
paste -d'\n' "$dir/a" "$dir/b" | sed 's/^/  /'
