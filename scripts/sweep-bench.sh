#!/usr/bin/env bash
# Sweep throughput of the local executor (issue 13): the same sweep of POINTS runs of PRESET (linear-1)
#   A: `mesa sweep run --processes $(nproc) --threads 1`   (one single-threaded run per core)
#   B: `mesa sweep run --processes 1 --threads $(nproc)`   (one run at a time on every core:
#      today's one-after-another loop of `mesa reproduce`)
# interleaved A, B, A, B, … for ROUNDS rounds (fresh folders each time); prints runs/hour per round
# and the median and range per variant.  Usage: scripts/sweep-bench.sh [ROUNDS] [POINTS] [STEPS] [PRESET]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; points=${2:-4}; steps=${3:-400}; preset=${4:-linear-1}
mesa=.build/release/mesa
[ -x "$mesa" ] || swift build -c release --product mesa
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
last=$((points - 1))
declare -A rates
for r in $(seq "$rounds"); do
    for v in A B; do
        if [ "$v" = A ]; then opts=(--processes "$cores" --threads 1); else opts=(--processes 1 --threads "$cores"); fi
        dir="$work/$v$r"
        t0=$(date +%s.%N)
        "$mesa" sweep run "$dir" --preset "$preset" --seeds "0-$last" --steps "$steps" --quiet --no-report "${opts[@]}" >/dev/null
        t1=$(date +%s.%N)
        rate=$(echo "$points * 3600 / ($t1 - $t0)" | bc -l)
        printf 'round %d %s (%s): %d runs of %d steps in %.1f s = %.0f runs/hour\n' "$r" "$v" "${opts[*]}" "$points" "$steps" \
            "$(echo "$t1 - $t0" | bc -l)" "$rate"
        rates[$v]+="$rate "
    done
done
for v in A B; do
    echo "$v: $(echo ${rates[$v]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {printf "median %.0f runs/hour, range %.0f-%.0f", a[int((NR+1)/2)], a[1], a[NR]}')"
done
