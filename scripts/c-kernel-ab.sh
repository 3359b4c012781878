#!/usr/bin/env bash
# The C kernels of GELU (gelu512.c) and of the causal softmax rows (scorecore512.c) of an older
# revision against the working tree's, outside Swift: `scripts/c-kernel-ab.sh OLD_REV [ROUNDS]`
# takes OLD_REV's two files from git (their functions renamed old_*), builds them with the
# working tree's and scripts/c-kernel-ab/driver.c (clang -O2, the flags SwiftPM's release build
# gives C targets), checks the bits on many lengths and special values, and times both in cache,
# alternating, the fastest of ROUNDS rounds (default 300). Needs clang and an AVX-512 CPU; exit 1
# if any bits differ. This is the in-cache side of BENCHMARKS.md's "Stop 17"; the kernels' share
# of a training run is scripts/kernel-shares.sh's.
set -euo pipefail
usage="scripts/c-kernel-ab.sh OLD_REV [ROUNDS]"
[ $# -ge 1 ] || { echo "usage: $usage" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd) root=$(cd "$(dirname "$0")/.." && pwd)
old=$1 rounds=${2:-300}
grep -q avx512f /proc/cpuinfo || { echo "c-kernel-ab: this CPU has no AVX-512" >&2; exit 69; }
out=$(mktemp -d) run_pid=
# The driver runs in the background and is waited for, so that Ctrl-C or SIGTERM stops it too.
trap '[ -z "$run_pid" ] || kill "$run_pid" 2>/dev/null || true; rm -rf "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for f in gelu512.c scorecore512.c; do
    git -C "$root" show "$old:Sources/CSupport/$f" > "$out/old-$f" \
        || { echo "c-kernel-ab: no Sources/CSupport/$f at $old" >&2; exit 65; }
    sed -i -E 's/\bmesa512_([a-z_]+)\(/old_\1(/g; s/\bmesa_cpu_has_avx512\b/old_cpu_has_avx512/g; s/\bmesa_prefetch_soon/old_prefetch_soon/g' "$out/old-$f"
done
inc="$root/Sources/CSupport/include"
clang -O2 -I"$inc" "$here/c-kernel-ab/driver.c" "$out/old-gelu512.c" "$out/old-scorecore512.c" \
    "$root/Sources/CSupport/gelu512.c" "$root/Sources/CSupport/scorecore512.c" -o "$out/ab" -lm
"$out/ab" "$rounds" & run_pid=$!
status=0; wait "$run_pid" || status=$?
run_pid=
exit $status
