#!/usr/bin/env bash
# The AVX-512 score-core kernels against the portable Swift kernels, same binary, one run:
# `scripts/kernels-ab.sh MESA [ROUNDS] [REPEATS]` runs `mesa bench --preset P --repeats REPEATS`
# (default 15) with MESA_KERNELS=portable and with the default kernels, alternating, ROUNDS times
# (default 3) for linear-1, linear-2, softmax-7 and hybrid-mesa: on one thread (MESA_THREADS=1,
# the step's CPU time) and on two (wall). Prints each bench's medians, then per preset the median
# and range over the rounds and the ratio default/portable. PRESETS overrides the preset list.
set -euo pipefail
bin=$1 rounds=${2:-3} repeats=${3:-15}
presets=(${PRESETS:-linear-1 linear-2 softmax-7 hybrid-mesa})
declare -A cpu wall
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for preset in "${presets[@]}"; do
        for side in portable auto; do
            out=$(MESA_KERNELS=$side MESA_THREADS=1 "$bin" bench --preset "$preset" --repeats "$repeats" --first-step-runs 0)
            c=$(echo "$out" | awk '/step CPU time/ {print $4}')
            kernels=$(echo "$out" | awk -F'kernels +' '/score-core kernels/ {print $2}' | cut -d' ' -f1)
            out=$(MESA_KERNELS=$side MESA_THREADS=2 "$bin" bench --preset "$preset" --repeats "$repeats" --first-step-runs 0)
            w=$(echo "$out" | awk '/^ *step, data excluded/ {print $4}')
            cpu[$preset,$side]+="$c " wall[$preset,$side]+="$w "
            echo "round $round  $preset  $side ($kernels)  1 thread CPU $c ms  2 threads wall $w ms  load $(cut -d' ' -f1 /proc/loadavg)"
        done
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "–" hi}'; }
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-12s %-28s %-28s %8s   %-28s %-28s %8s\n" preset "1 thread CPU portable (ms)" "1 thread CPU avx512 (ms)" "ratio" \
    "2 threads wall portable" "2 threads wall avx512" "ratio"
for preset in "${presets[@]}"; do
    cp=$(echo "${cpu[$preset,portable]}" | median) ca=$(echo "${cpu[$preset,auto]}" | median)
    wp=$(echo "${wall[$preset,portable]}" | median) wa=$(echo "${wall[$preset,auto]}" | median)
    printf "%-12s %-28s %-28s %8s   %-28s %-28s %8s\n" "$preset" \
        "$cp ($(echo "${cpu[$preset,portable]}" | range))" "$ca ($(echo "${cpu[$preset,auto]}" | range))" \
        "$(awk -v a="$ca" -v b="$cp" 'BEGIN {printf "%.3f", a / b}')" \
        "$wp ($(echo "${wall[$preset,portable]}" | range))" "$wa ($(echo "${wall[$preset,auto]}" | range))" \
        "$(awk -v a="$wa" -v b="$wp" 'BEGIN {printf "%.3f", a / b}')"
done
