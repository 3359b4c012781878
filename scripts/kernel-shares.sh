#!/usr/bin/env bash
# A kernel's cost, before/after, on a host too noisy for step times: `scripts/kernel-shares.sh OLD_MESA
# NEW_MESA [ROUNDS] [STEPS] [PRESET]` records, ROUNDS times (default 3) with the old then the new
# binary, a one-thread profile of `mesa train --preset PRESET --steps STEPS --set evalEvery=100000`
# (defaults softmax-7, 6 steps; the held-out evaluations at the start and end are in it) with
# `perf record -F 1999 -e cpu-clock`, and prints each kernel's samples divided by the samples of
# the products' main tile `gemmTile_8_3`, which neither side changes. The host's speed swings hit
# both the kernel and the reference within one process, so the ratio moves far less than the
# step time does (BENCHMARKS.md, "Stop 17"). KERNELS (an awk regular expression over symbol
# names, default the score core's and GELU's C kernels) chooses the kernels; the last column,
# "sum", adds them. Needs `perf` (Debian's linux-perf).
set -euo pipefail
usage="scripts/kernel-shares.sh OLD_MESA NEW_MESA [ROUNDS] [STEPS] [PRESET]"
[ $# -ge 2 ] || { echo "usage: $usage" >&2; exit 64; }
for bin in "$1" "$2"; do
    [ -x "$bin" ] || { echo "kernel-shares: $bin is not an executable (usage: $usage)" >&2; exit 66; }
done
command -v perf >/dev/null || { echo "kernel-shares: perf is not installed (apt-get install linux-perf)" >&2; exit 69; }
old=$1 new=$2 rounds=${3:-3} steps=${4:-6} preset=${5:-softmax-7}
kernels=${KERNELS:-mesa512_causal|mesa512_gather|mesa512_gelu}
dir=$(mktemp -d) run_pid=
# The profiled run goes to the background and is waited for, so that Ctrl-C or SIGTERM stops it too.
stop() {
    if [ -n "$run_pid" ]; then
        pkill -TERM -P "$run_pid" || true; kill "$run_pid" || true  # set -e: either may have nothing left to stop
        while kill -0 "$run_pid"; do sleep 0.1; done  # perf writes its file as it stops
    fi 2>/dev/null
    wait
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for round in $(seq "$rounds"); do
    for side in old new; do
        bin=${!side}
        rm -rf "$dir/run"
        MESA_THREADS=1 perf record -q -F 1999 -e cpu-clock -o "$dir/p.data" -- "$bin" train --preset "$preset" \
            --steps "$steps" --quiet --out "$dir/run" --set evalEvery=100000 >/dev/null 2>"$dir/err" & run_pid=$!
        wait "$run_pid" || { status=$?; [ $status -gt 128 ] && exit $status  # stopped by a signal (Ctrl-C, SIGTERM)
                             echo "kernel-shares: the $side run failed:" >&2; cat "$dir/err" >&2; exit 1; }
        run_pid=
        shares=$(perf report -i "$dir/p.data" --no-children --stdio --sort sym 2>/dev/null |
            awk -v pat="$kernels" '
                /\[\.\]/ { pct = $1 + 0; sym = $3; if (sym == "gemmTile_8_3") g = pct
                           if (sym ~ pat) k[sym] += pct }
                END { if (g == 0) exit 1
                      for (s in k) { short = s; sub(/^mesa512_(causal_)?/, "", short); printf "%s %.3f\n", short, k[s] / g } }' |
            sort) || { echo "kernel-shares: no gemmTile_8_3 samples in the $side profile" >&2; exit 1; }
        sum=$(echo "$shares" | awk '{s += $2} END {printf "%.3f", s}')
        echo "round $round  $side  $(echo "$shares" | tr '\n' ' ')  sum $sum"
    done
done
