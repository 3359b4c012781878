#!/usr/bin/env bash
# The AVX-512 kernels against the portable ones, same binary, one run:
# `scripts/kernels-ab.sh MESA [ROUNDS] [REPEATS]` runs `mesa bench --preset P --repeats REPEATS`
# (default 15) with MESA_KERNELS=portable and with the default kernels, alternating, ROUNDS times
# (default 3) for linear-1, linear-2, softmax-7 and hybrid-mesa: on one thread (MESA_THREADS=1,
# the step's CPU time) and on two (wall). Prints each bench's medians, then per preset the median
# and range over the rounds and the ratio default/portable. PRESETS overrides the preset list.
# MESA_KERNELS switches every AVX-512 family together (KernelChoice): the score core, the thin GEMM
# and the LDS batch's lanes (the last is outside the timed step).
set -euo pipefail
source "$(dirname "$0")/lib/ab.sh"
usage="scripts/kernels-ab.sh MESA [ROUNDS] [REPEATS]"
need_binaries "$usage" "${1:-}"
bin=$1 rounds=${2:-3} repeats=${3:-15}
presets=(${PRESETS:-linear-1 linear-2 softmax-7 hybrid-mesa})
bench() { MESA_KERNELS=$1 MESA_THREADS=$2 "$bin" bench --preset "$3" --repeats "$repeats" --first-step-runs 0; }
ab_run portable auto portable avx512
