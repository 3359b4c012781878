#!/usr/bin/env bash
# Two binaries against each other, one run (old vs new build; both with the default kernels):
# `scripts/binary-ab.sh OLD_MESA NEW_MESA [ROUNDS] [REPEATS]` runs `mesa bench --preset P --repeats REPEATS`
# (default 15) with the old and the new binary, alternating, ROUNDS times
# (default 3) for linear-1, linear-2, softmax-7 and hybrid-mesa: on one thread (MESA_THREADS=1,
# the step's CPU time) and on two (wall). Prints each bench's medians, then per preset the median
# and range over the rounds and the ratio new/old. PRESETS overrides the preset list.
set -euo pipefail
source "$(dirname "$0")/lib/ab.sh"
usage="scripts/binary-ab.sh OLD_MESA NEW_MESA [ROUNDS] [REPEATS]"
[ $# -ge 2 ] || { echo "usage: $usage" >&2; exit 64; }
need_binaries "$usage" "$1" "$2"
old=$1 new=$2 rounds=${3:-3} repeats=${4:-15}
presets=(${PRESETS:-linear-1 linear-2 softmax-7 hybrid-mesa})
bench() { local bin; [ "$1" = old ] && bin=$old || bin=$new
          MESA_THREADS=$2 "$bin" bench --preset "$3" --repeats "$repeats" --first-step-runs 0; }
ab_run old new old new
