#!/usr/bin/env bash
# Time to first step, before/after, in one run: `scripts/first-step-compare.sh OLD_MESA NEW_MESA [ROUNDS]`
# runs `mesa train --preset P --steps 1 --quiet` (a whole process: start, held-out evaluation at
# step 0, the step, the evaluation after it, the run directory written, exit) with both binaries,
# alternating, ROUNDS times (default 3) for every preset, and prints each run's wall, user and
# system CPU seconds, minor page faults and peak resident memory, then the medians.
# PRESETS="linear-1 softmax-7" limits the presets; MESA_THREADS is passed through.
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
presets=(${PRESETS:-linear-1 linear-2 hybrid-mesa softmax-7 full-mesa})
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
declare -A wall user sys faults rss
for round in $(seq "$rounds"); do
    for preset in "${presets[@]}"; do
        for side in old new; do
            bin=${!side}
            out="$dir/$side-$preset-$round"
            read -r w u s f m < <( { /usr/bin/time -f "%e %U %S %R %M" "$bin" train --preset "$preset" --steps 1 --quiet --out "$out" >/dev/null; } 2>&1 | tail -1)
            wall[$preset,$side]+="$w " user[$preset,$side]+="$u " sys[$preset,$side]+="$s " faults[$preset,$side]+="$f " rss[$preset,$side]+="$m "
            echo "round $round  $preset  $side  wall $w s  user $u s  sys $s s  faults $f  peak $((m / 1024)) MiB"
        done
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf "%-12s %10s %10s %10s %10s %10s %10s %10s %10s %12s %12s\n" preset "old wall" "new wall" "old user" "new user" \
    "old sys" "new sys" "old flts" "new flts" "old peak MiB" "new peak MiB"
for preset in "${presets[@]}"; do
    printf "%-12s %10s %10s %10s %10s %10s %10s %10s %10s %12s %12s\n" "$preset" \
        "$(echo "${wall[$preset,old]}" | median)" "$(echo "${wall[$preset,new]}" | median)" \
        "$(echo "${user[$preset,old]}" | median)" "$(echo "${user[$preset,new]}" | median)" \
        "$(echo "${sys[$preset,old]}" | median)" "$(echo "${sys[$preset,new]}" | median)" \
        "$(echo "${faults[$preset,old]}" | median)" "$(echo "${faults[$preset,new]}" | median)" \
        "$(( $(echo "${rss[$preset,old]}" | median) / 1024 ))" "$(( $(echo "${rss[$preset,new]}" | median) / 1024 ))"
done
