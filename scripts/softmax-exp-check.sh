#!/usr/bin/env bash
# The softmax rows' exp (expNonPositive16 in Sources/CSupport/scorecore512.c) against the general
# fastExp it replaced, on all 2 155 872 256 inputs a softmax row can give it (x − max ≤ 0, or NaN):
# `scripts/softmax-exp-check.sh` builds scripts/softmax-exp/check.c with clang and runs it (about
# 15 s), then times both in cache. Exit 1 if any result differs. Needs clang and an AVX-512 CPU.
set -euo pipefail
[ $# -eq 0 ] || { echo "usage: scripts/softmax-exp-check.sh (no arguments)" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
grep -q avx512f /proc/cpuinfo || { echo "softmax-exp-check: this CPU has no AVX-512" >&2; exit 69; }
out=$(mktemp -d) run_pid=
# The check runs in the background and is waited for, so that Ctrl-C or SIGTERM stops it too.
trap '[ -z "$run_pid" ] || kill "$run_pid" 2>/dev/null || true; rm -rf "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
clang -O2 -ffp-contract=off -I"$here/../Sources/CSupport/include" "$here/softmax-exp/check.c" -lm -o "$out/check"
"$out/check" & run_pid=$!
wait "$run_pid"
