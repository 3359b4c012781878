#!/usr/bin/env bash
# Runs the test suite: installs the system packages if missing, builds everything in
# release mode (the numerical tests train small models), and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
# Debian's OpenBLAS falls back to slow SSE3 kernels on CPU models it does not know (many
# virtual machines); ask for the AVX-512 or AVX2 ones the CPU has. (The mesa tool does
# this itself: see Sources/MesaTensor/BLASKernels.swift.)
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    has() { [[ " $flags " == *" $1 "* ]]; }
    if has avx512f && has avx512bw && has avx512dq && has avx512vl; then export OPENBLAS_CORETYPE=SkylakeX
    elif has avx2 && has fma; then export OPENBLAS_CORETYPE=Haswell; fi
fi
swift build -c release --build-tests
swift test -c release --skip-build "$@"
