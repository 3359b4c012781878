#!/usr/bin/env bash
# Where the second thread goes: `scripts/thread-scaling.sh MESA [ROUNDS] [PRESETS...]` times a training
# step (data excluded, median of 15, `mesa bench`) of each preset three ways, alternating in every round:
#   1T     one process on one thread (MESA_THREADS=1), the other core idle
#   1T+1T  two such processes at once (the slower one's median): what one core does with the other busy
#   2T     one process on two threads (MESA_THREADS=2)
# and prints, per preset, the median over rounds of each and the split of the two-thread speed-up
# 1T/2T into the machine's part, co-running = (1T+1T)/1T (1 = a busy neighbour costs nothing), and
# mesa's part, parallel efficiency = (1T+1T)/(2 x 2T) (1 = no serial stretch, no idle worker).
# Run on an idle machine (load average < 0.5): other processes make 1T a co-running figure too.
set -euo pipefail
mesa=$1 rounds=${2:-3}
shift $(( $# >= 2 ? 2 : $# ))
presets=("${@:-softmax-7}")
[ ${#presets[@]} -gt 0 ] || presets=(softmax-7)
step() { MESA_THREADS=$1 "$mesa" bench --preset "$2" --repeats 15 --first-step-runs 0 | awk '/^ *step, data excluded/ && !n++ {print $4}'; }
declare -A t
for round in $(seq "$rounds"); do
    for p in "${presets[@]}"; do
        one=$(step 1 "$p")
        a=$(mktemp) b=$(mktemp)
        step 1 "$p" >"$a" & step 1 "$p" >"$b"; wait
        both=$(sort -g "$a" "$b" | tail -1); rm -f "$a" "$b"
        two=$(step 2 "$p")
        t[$p,1]+="$one " t[$p,11]+="$both " t[$p,2]+="$two "
        echo "round $round  $p  1T $one ms  1T+1T $both ms  2T $two ms"
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf "%-12s %9s %9s %9s %9s %11s %11s\n" preset "1T" "1T+1T" "2T" "1T/2T" co-running efficiency
for p in "${presets[@]}"; do
    o=$(echo "${t[$p,1]}" | median) c=$(echo "${t[$p,11]}" | median) w=$(echo "${t[$p,2]}" | median)
    awk -v p="$p" -v o="$o" -v c="$c" -v w="$w" \
        'BEGIN {printf "%-12s %9s %9s %9s %9.2f %11.2f %11.2f\n", p, o, c, w, o / w, c / o, c / (2 * w)}'
done
