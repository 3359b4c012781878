#!/usr/bin/env bash
# The machine's single-precision FMA peak as a program reaches it (issue 14: "the achieved fraction
# of the machine's peak"): a register-only FMA loop on 1 … THREADS threads, best of ROUNDS.
# Usage: scripts/fma-peak.sh [THREADS (default: nproc)] [ROUNDS (default 5)]
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
flags=-mavx2\ -mfma
grep -q avx512f /proc/cpuinfo && flags=-mavx512f
gcc -O2 $flags -pthread -o "$out/fma_peak" fma-peak/fma_peak.c
"$out/fma_peak" "${1:-$(nproc)}" "${2:-5}"
