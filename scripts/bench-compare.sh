#!/usr/bin/env bash
# Before/after step times in one run: `scripts/bench-compare.sh OLD_MESA NEW_MESA [ROUNDS]`
# runs `mesa bench --preset P` with both binaries, alternating, ROUNDS times (default 3)
# for every preset of BENCHMARKS.md, and prints each round's median step time (data
# excluded) and the median over the rounds with the ratio new/old. Build the old binary
# from the commit to compare with (`git worktree add /tmp/old REV && swift build -c
# release --package-path /tmp/old`).
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
presets=(linear-1 linear-2 hybrid-mesa softmax-7)
declare -A times
for round in $(seq "$rounds"); do
    for preset in "${presets[@]}"; do
        for side in old new; do
            bin=${!side}
            ms=$("$bin" bench --preset "$preset" --repeats 15 --first-step-runs 0 | awk '/^ *step, data excluded/ && !n++ {print $4}')
            times[$preset,$side]+="$ms "
            echo "round $round  $preset  $side  $ms ms"
        done
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf "%-12s %10s %10s %8s\n" preset "old (ms)" "new (ms)" "new/old"
for preset in "${presets[@]}"; do
    o=$(echo "${times[$preset,old]}" | median) n=$(echo "${times[$preset,new]}" | median)
    printf "%-12s %10s %10s %8s\n" "$preset" "$o" "$n" "$(awk -v a="$n" -v b="$o" 'BEGIN {printf "%.3f", a / b}')"
done
