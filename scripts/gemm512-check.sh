#!/usr/bin/env bash
# gemm512.c outside Swift, against the OpenBLAS on this machine (needs clang, libopenblas-dev and an
# AVX-512 CPU): `scripts/gemm512-check.sh bits` runs 22 528 cases (M 1…600, N 1…300, K 1…256, both
# op(B), β 0 and 1, strided, with ±0 and tiny entries) and counts elements whose bits differ,
# gemm512 against the plain FMA chain (lines "OURS vs ref") and against cblas_sgemm for the calls
# SmallGemm takes; `scripts/gemm512-check.sh timing` times one call of each model shape, one thread,
# thread CPU time, OpenBLAS and gemm512 alternating, the fastest of 7 rounds;
# `scripts/gemm512-check.sh bits-tn` checks the weight-gradient kernel (A transposed) against cblas_sgemm
# over 984 cases, K 1…3000 across OpenBLAS's K blocks (scripts/gemm512/bits-tn.c); exit 1 if any differ.
# `scripts/gemm512-check.sh nn-small` checks a model of OpenBLAS's small NN kernel (the calls SmallGemm
# leaves to OpenBLAS) against cblas_sgemm (scripts/gemm512/nn-small.c; exit 1 if any element differs).
# `scripts/gemm512-check.sh row-split` checks the rule behind MesaTensor's productRowParts: a call of m
# rows with m·n·k > 100³ gives each row the bits of a larger call, Float and Double, n ≤ 256
# (scripts/gemm512/row-split.c; needs no AVX-512; exit 1 if any differs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:-bits}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
case $what in
    timing) src=timing.c ;;
    bits-tn) src=bits-tn.c ;;
    bits) src=bits.c ;;
    nn-small) src=nn-small.c ;;
    row-split) src=row-split.c ;;
    *) echo "usage: scripts/gemm512-check.sh [bits|bits-tn|timing|nn-small|row-split]" >&2; exit 64 ;;
esac
clang -O2 -ffp-contract=off -I"$here/../Sources/CSupport/include" "$here/gemm512/$src" "$here/../Sources/CSupport/gemm512.c" \
    -lopenblas -lm -o "$out/check"
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} "$out/check" | { [ "$what" = timing ] && cat || tail -4; }
