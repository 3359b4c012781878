#!/usr/bin/env bash
# Same bytes, old vs new: `scripts/first-step-same-bytes.sh OLD_MESA NEW_MESA [STEPS]` trains linear-1,
# linear-2, hybrid-mesa, softmax-7 and full-mesa at their defaults (T 50) for STEPS steps (default 3:
# held-out evaluations at step 0 and at the last step, after the parameters moved) with both
# binaries and compares metrics.csv and checkpoint.safetensors byte for byte. Exit 1 if any differ.
set -uo pipefail
old=$1 new=$2 steps=${3:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
for p in ${PRESETS:-linear-1 linear-2 hybrid-mesa softmax-7 full-mesa}; do
    for side in old new; do
        bin=${!side}
        "$bin" train --preset "$p" --steps "$steps" --quiet --out "$dir/$side-$p" >/dev/null || { echo "$side $p: training failed"; status=1; }
    done
    for f in metrics.csv checkpoint.safetensors; do
        if cmp -s "$dir/old-$p/$f" "$dir/new-$p/$f"; then echo "$p, $steps steps: $f same bytes"
        else echo "$p, $steps steps: $f DIFFERS"; status=1; fi
    done
done
exit $status
