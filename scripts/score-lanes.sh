#!/usr/bin/env bash
# The score core with 16 (sequence, head) pairs in the lanes of each vector, a prototype
# (scripts/score-lanes/lanes.c, not in the build; BENCHMARKS.md "Stop 21"), against the per-head
# kernels of Sources/CSupport/scorecore512.c, in cache, one thread:
# `scripts/score-lanes.sh [REPS]` prints the forward's TSC cycles per pair both ways with the
# elements whose bits differ (0 expected), lanes.c's time by section, and the per-head backward
# kernel by kernel. Needs clang and an AVX-512 CPU.
set -euo pipefail
usage="usage: scripts/score-lanes.sh [REPS ≥ 1]"
[ $# -le 1 ] || { echo "$usage" >&2; exit 64; }
reps=${1:-200}
case $reps in ''|*[!0-9]*|0) echo "score-lanes: REPS must be a positive integer, got '$reps' ($usage)" >&2; exit 64 ;; esac
command -v clang >/dev/null || { echo "score-lanes: clang is not installed" >&2; exit 69; }
grep -qw avx512f /proc/cpuinfo 2>/dev/null || { echo "score-lanes: needs an AVX-512 CPU" >&2; exit 69; }
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d) pid=
# Each program runs in the background and is waited for, so that Ctrl-C or SIGTERM stops it too.
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
run() { "$@" & pid=$!; wait "$pid"; pid=; }
inc="$here/../Sources/CSupport/include" core="$here/../Sources/CSupport/scorecore512.c"
clang -O2 -ffp-contract=off -I"$inc" "$here/score-lanes/forward.c" "$here/score-lanes/lanes.c" -lm -o "$out/forward"
clang -O2 -ffp-contract=off -DLANES_TIMING -I"$inc" "$here/score-lanes/forward.c" "$here/score-lanes/lanes.c" -lm \
    -o "$out/sections"
clang -O2 -ffp-contract=off -I"$inc" "$here/score-lanes/backward.c" "$core" -lm -o "$out/backward"
echo "forward, A in a row buffer:"; run "$out/forward" "$reps"
echo "forward, A kept (lower triangle in lanes):"; run "$out/forward" "$reps" keep
echo "forward by section (the rdtsc reads included):"; run "$out/sections" "$reps"
echo "backward per head, kernel by kernel:"; run "$out/backward" "$reps"
