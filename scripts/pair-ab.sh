#!/usr/bin/env bash
# Old against new in back-to-back pairs (this host's speed swings by up to 2x within minutes, so
# round medians taken a minute apart compare different machines; a pair's two benches run seconds
# apart): `scripts/pair-ab.sh OLD_MESA NEW_MESA [PAIRS] [REPEATS]` runs, PAIRS times (default 8) per
# preset, `mesa bench --preset P --repeats REPEATS` (default 7; data excluded, the machine's threads)
# with the old then the new binary, and prints every pair's step medians and ratio new/old, then per
# preset the median of the pair ratios and their range. PRESETS overrides the preset list.
set -euo pipefail
source "$(dirname "$0")/lib/ab.sh"
usage="scripts/pair-ab.sh OLD_MESA NEW_MESA [PAIRS] [REPEATS]"
[ $# -ge 2 ] || { echo "usage: $usage" >&2; exit 64; }
need_binaries "$usage" "$1" "$2"
old=$1 new=$2 pairs=${3:-8} repeats=${4:-7}
# Each bench runs in the background and is waited for, so that Ctrl-C or SIGTERM stops it too.
out=$(mktemp) bench_pid=
stop() { [ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null; rm -f "$out"; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
step() {  # sets ms: the step median (data excluded) of binary $1 on preset $2
    "$1" bench --preset "$2" --repeats "$repeats" --first-step-runs 0 > "$out" & bench_pid=$!
    wait "$bench_pid"; bench_pid=
    ms=$(awk '/^ *step, data excluded/ {print $4; exit}' "$out")
}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
summary=()
for preset in ${PRESETS:-linear-1 linear-2 hybrid-mesa softmax-7}; do
    ratios=""
    for i in $(seq "$pairs"); do
        step "$old" "$preset"; a=$ms
        step "$new" "$preset"; b=$ms
        r=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
        ratios+="$r "
        echo "$preset  pair $i  old $a ms  new $b ms  new/old $r"
    done
    summary+=("$(printf "%-12s median of %d pair ratios new/old %s (range %s)" "$preset" "$pairs" \
        "$(echo "$ratios" | median)" "$(echo "$ratios" | range)")")
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%s\n" "${summary[@]}"
