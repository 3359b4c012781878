#!/usr/bin/env bash
# Same bytes from run to run and on any thread count: `scripts/run-to-run.sh MESA [RUNS] [STEPS]` trains
# each preset at each batch size once with MESA_THREADS=1, then RUNS times (default 4) on the machine's
# threads, STEPS steps each (default 3; held-out batch of 16), and counts the runs whose checkpoint or
# metrics.csv differ from the one-thread run. Small batches make micro-batches of a few sequences, where
# a lane's kernels are most often helped by the other lane (MesaTensor's `productRowParts` explains why
# that once changed bytes). PRESETS and BATCHES override the lists. Exit 1 if any run differs.
set -uo pipefail
usage="scripts/run-to-run.sh MESA [RUNS] [STEPS]"
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $usage" >&2; exit 64; }
mesa=$1 runs=${2:-4} steps=${3:-3}
[ -x "$mesa" ] || { echo "run-to-run: $mesa is not an executable (usage: $usage)" >&2; exit 64; }
for n in "$runs" "$steps"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run-to-run: '$n' is not a positive whole number (usage: $usage)" >&2; exit 64; }
done
dir=$(mktemp -d)
child=
stop() { [ -n "$child" ] && kill "$child" 2>/dev/null; rm -rf "$dir"; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# One run in the background, waited for, so that Ctrl-C or SIGTERM stops it too; sets `digest` to its
# bytes' digest (no command substitution: a subshell's child would outlive a SIGTERM to this script).
train() {  # train THREADS PRESET BATCH
    rm -rf "$dir/run"
    env ${1:+MESA_THREADS=$1} "$mesa" train --preset "$2" --batch-size "$3" --steps "$steps" --quiet \
        --set evalBatchSize=16 --out "$dir/run" >/dev/null 2>"$dir/err" &
    child=$!
    wait "$child" || { echo "run-to-run: $2 at batch $3 failed: $(tail -1 "$dir/err")" >&2; return 1; }
    child=
    digest=$(cat "$dir/run/checkpoint.safetensors" "$dir/run/metrics.csv" | md5sum | cut -c1-16)
}
status=0
for p in ${PRESETS:-linear-1 linear-2 linear-4 softmax-7 hybrid-mesa full-mesa linear-deep-2}; do
    line="$p:"
    for b in ${BATCHES:-8 12 16 20 36}; do
        train 1 "$p" "$b" || exit 1
        one=$digest differ=0
        for _ in $(seq "$runs"); do
            train "" "$p" "$b" || exit 1
            [ "$digest" = "$one" ] || differ=$((differ + 1))
        done
        [ "$differ" -eq 0 ] || status=1
        line+="  batch $b: $differ of $runs differ"
    done
    echo "$line"
done
exit $status
