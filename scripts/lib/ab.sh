# Shared by scripts/binary-ab.sh and scripts/kernels-ab.sh (source it): an interleaved A/B of two
# "sides" over presets. The caller defines `bench SIDE THREADS PRESET` (prints `mesa bench`'s output)
# and sets rounds, repeats, presets (an array) and the labels; `ab_run SIDE_A SIDE_B LABEL_A LABEL_B`
# runs every round (one thread: the step's CPU time; two threads: wall) and prints each bench's
# medians, then per preset the median and range over the rounds and the ratio B/A.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "–" hi}'; }

ab_run() {
    local sa=$1 sb=$2 la=$3 lb=$4 round preset side out c w note
    declare -gA cpu wall
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    for round in $(seq "$rounds"); do
        for preset in "${presets[@]}"; do
            for side in "$sa" "$sb"; do
                out=$(bench "$side" 1 "$preset")
                c=$(echo "$out" | awk '/step CPU time/ {print $4}')
                note=$(echo "$out" | awk -F'kernels +' '/score-core kernels/ {print $2}' | cut -d' ' -f1)
                out=$(bench "$side" 2 "$preset")
                w=$(echo "$out" | awk '/^ *step, data excluded/ {print $4}')
                cpu[$preset,$side]+="$c " wall[$preset,$side]+="$w "
                echo "round $round  $preset  $side${note:+ ($note)}  1 thread CPU $c ms  2 threads wall $w ms  load $(cut -d' ' -f1 /proc/loadavg)"
            done
        done
    done
    echo
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf "%-12s %-28s %-28s %8s   %-28s %-28s %8s\n" preset "1 thread CPU $la (ms)" "1 thread CPU $lb (ms)" "ratio" \
        "2 threads wall $la" "2 threads wall $lb" "ratio"
    local cp ca wp wa
    for preset in "${presets[@]}"; do
        cp=$(echo "${cpu[$preset,$sa]}" | median) ca=$(echo "${cpu[$preset,$sb]}" | median)
        wp=$(echo "${wall[$preset,$sa]}" | median) wa=$(echo "${wall[$preset,$sb]}" | median)
        printf "%-12s %-28s %-28s %8s   %-28s %-28s %8s\n" "$preset" \
            "$cp ($(echo "${cpu[$preset,$sa]}" | range))" "$ca ($(echo "${cpu[$preset,$sb]}" | range))" \
            "$(awk -v a="$ca" -v b="$cp" 'BEGIN {printf "%.3f", a / b}')" \
            "$wp ($(echo "${wall[$preset,$sa]}" | range))" "$wa ($(echo "${wall[$preset,$sb]}" | range))" \
            "$(awk -v a="$wa" -v b="$wp" 'BEGIN {printf "%.3f", a / b}')"
    done
}

# Exits with a usage line unless every path given is an executable file.
need_binaries() {
    local usage=$1; shift
    [ $# -gt 0 ] || { echo "usage: $usage" >&2; exit 64; }
    for b in "$@"; do
        [ -x "$b" ] && [ -f "$b" ] || { echo "not an executable mesa binary: '$b' (usage: $usage)" >&2; exit 64; }
    done
}
