#!/usr/bin/env bash
# Two binaries against each other, one run (old vs new build; both with the default kernels):
# `scripts/binary-ab.sh OLD_MESA NEW_MESA [ROUNDS] [REPEATS]` runs `mesa bench --preset P --repeats REPEATS`
# (default 15) with the old and the new binary, alternating, ROUNDS times
# (default 3) for linear-1, linear-2, softmax-7 and hybrid-mesa: on one thread (MESA_THREADS=1,
# the step's CPU time) and on two (wall). Prints each bench's medians, then per preset the median
# and range over the rounds and the ratio new/old. PRESETS overrides the preset list.
set -euo pipefail
old=$1 new=$2 rounds=${3:-3} repeats=${4:-15}
presets=(${PRESETS:-linear-1 linear-2 softmax-7 hybrid-mesa})
declare -A cpu wall
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for preset in "${presets[@]}"; do
        for side in old new; do
            bin=${!side}
            out=$(MESA_THREADS=1 "$bin" bench --preset "$preset" --repeats "$repeats" --first-step-runs 0)
            c=$(echo "$out" | awk '/step CPU time/ {print $4}')
            out=$(MESA_THREADS=2 "$bin" bench --preset "$preset" --repeats "$repeats" --first-step-runs 0)
            w=$(echo "$out" | awk '/^ *step, data excluded/ {print $4}')
            cpu[$preset,$side]+="$c " wall[$preset,$side]+="$w "
            echo "round $round  $preset  $side  1 thread CPU $c ms  2 threads wall $w ms  load $(cut -d' ' -f1 /proc/loadavg)"
        done
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "–" hi}'; }
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-12s %-28s %-28s %8s   %-28s %-28s %8s\n" preset "1 thread CPU old (ms)" "1 thread CPU new (ms)" "ratio" \
    "2 threads wall old" "2 threads wall new" "ratio"
for preset in "${presets[@]}"; do
    cp=$(echo "${cpu[$preset,old]}" | median) ca=$(echo "${cpu[$preset,new]}" | median)
    wp=$(echo "${wall[$preset,old]}" | median) wa=$(echo "${wall[$preset,new]}" | median)
    printf "%-12s %-28s %-28s %8s   %-28s %-28s %8s\n" "$preset" \
        "$cp ($(echo "${cpu[$preset,old]}" | range))" "$ca ($(echo "${cpu[$preset,new]}" | range))" \
        "$(awk -v a="$ca" -v b="$cp" 'BEGIN {printf "%.3f", a / b}')" \
        "$wp ($(echo "${wall[$preset,old]}" | range))" "$wa ($(echo "${wall[$preset,new]}" | range))" \
        "$(awk -v a="$wa" -v b="$wp" 'BEGIN {printf "%.3f", a / b}')"
done
