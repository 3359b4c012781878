#!/usr/bin/env bash
# What one core loses while the other computes: `scripts/corun.sh MESA [ROUNDS]` times two kernels that
# share nothing between processes — OpenBLAS's sgemm (`mesa bench --blas`, the 12800x240x40 product of a
# linear-2 projection, GFLOP/s) and the attention score core (`mesa bench --score-core`, linear, AVX-512,
# ms) — first alone (MESA_THREADS=1, the other core idle), then as two such processes at once, in every
# round, and prints each round and the median ratio paired/alone of the time (1 = a busy neighbour costs
# nothing). Run on an idle machine (load average < 0.5).
set -euo pipefail
source "$(dirname "$0")/lib/ab.sh"   # median, need_binaries
need_binaries "scripts/corun.sh MESA [ROUNDS]" "${1:-}"
mesa=$1 rounds=${2:-3}
export MESA_THREADS=1
gemm() { "$mesa" bench --blas | awk '/12800x240x40 +1 thread /{print $(NF-1)}'; }
core() { "$mesa" bench --score-core --repeats 40 | awk '/^  linear/{print $8}'; }
tmp=$(mktemp -d)
# Ctrl-C or SIGTERM: stop the benches still running (children and their children), drop the files.
stop() { pkill -TERM -g $$ -f "bench --(blas|score-core)" 2>/dev/null || true; rm -rf "$tmp"; }
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pair() { "$1" >"$tmp/a" & "$1" >"$tmp/b"; wait; sort -g "$tmp/a" "$tmp/b" | tr '\n' ' '; }
ratios_gemm="" ratios_core=""
for r in $(seq "$rounds"); do
    g1=$(gemm); g2=$(pair gemm); c1=$(core); c2=$(pair core)
    # sgemm: rate alone / slower rate paired = time paired / time alone.
    rg=$(awk -v a="$g1" -v p="$g2" 'BEGIN {split(p, x, " "); printf "%.3f", a / x[1]}')
    rc=$(awk -v a="$c1" -v p="$c2" 'BEGIN {split(p, x, " "); printf "%.3f", x[2] / a}')
    echo "round $r  sgemm 12800x240x40: alone $g1 GFLOP/s, paired $g2 GFLOP/s (time ratio $rg)   score core: alone $c1 ms, paired $c2 ms (ratio $rc)"
    ratios_gemm+="$rg " ratios_core+="$rc "
done
echo "median paired/alone time: sgemm $(echo "$ratios_gemm" | median), score core $(echo "$ratios_core" | median)"
