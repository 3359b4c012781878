#!/usr/bin/env bash
# Runs the test suite: installs the system packages if missing, builds everything in
# release mode (the numerical tests train small models), and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
# Test with the OpenBLAS kernels the mesa tool runs on this CPU when the user has not chosen
# (Sources/MesaTensor/BLASKernels.swift): SkylakeX with AVX-512, Haswell with AVX2 + FMA. Debian's
# OpenBLAS would otherwise pick by CPU model (SSE3 on models it does not know, "Cooperlake" on an
# AVX-512 EPYC). An OPENBLAS_CORETYPE inherited from the environment is set aside, said so, since
# some tests' claims depend on the kernels (BLASKernels.sequencesKeepTheirBitsInAnyBatch);
# MESA_TEST_OPENBLAS_CORETYPE=NAME tests other kernels on purpose.
preferred=
if [ -r /proc/cpuinfo ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    has() { [[ " $flags " == *" $1 "* ]]; }
    if has avx512f && has avx512bw && has avx512dq && has avx512vl; then preferred=SkylakeX
    elif has avx2 && has fma; then preferred=Haswell; fi
fi
chosen=${MESA_TEST_OPENBLAS_CORETYPE:-$preferred}
if [ -n "$chosen" ]; then
    if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "$OPENBLAS_CORETYPE" != "$chosen" ]; then
        echo "scripts/test.sh: testing with OpenBLAS's $chosen kernels (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment set aside; MESA_TEST_OPENBLAS_CORETYPE=NAME chooses)" >&2
    fi
    export OPENBLAS_CORETYPE=$chosen
fi
swift build -c release --build-tests
swift test -c release --skip-build "$@"
