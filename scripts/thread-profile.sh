#!/usr/bin/env bash
# Who does the work of a two-thread step: `scripts/thread-profile.sh MESA [PRESET] [STEPS] [THREADS]` records
# `mesa train --preset PRESET --steps STEPS --set evalBatchSize=256` (default softmax-7, 20 steps, 2 threads)
# with `perf record -e cpu-clock` (999 Hz: a sample is ~1 ms of CPU) and prints the samples of the calling
# thread, of the Dispatch workers and of the rest (the next batch's prefetch), then the functions with
# samples on the calling thread and none on a worker: the stretches no other thread can share.
# Robust to load (CPU time, not wall time); compare two binaries by running it on each in turn.
set -euo pipefail
mesa=$1 preset=${2:-softmax-7} steps=${3:-20} threads=${4:-2}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
MESA_THREADS=$threads perf record -q -F 999 -e cpu-clock -o "$dir/perf.data" \
    "$mesa" train --preset "$preset" --steps "$steps" --set evalBatchSize=256 --quiet --out "$dir/run" >/dev/null 2>&1
perf script -i "$dir/perf.data" -F comm,pid,tid,ip,sym 2>/dev/null | awk -v pre="$preset" '
    { comm = $1; split($2, p, "/"); sym = substr($4, 1, 90)
      role = (p[1] == p[2]) ? "calling" : (comm ~ /default-qos/ ? "workers" : "other")
      n[role]++; total++; if (role == "calling") c[sym]++; else if (role == "workers") w[sym]++ }
    END {
      printf "%s: %d samples: calling thread %d (%.1f%%), Dispatch workers %d (%.1f%%), other %d (%.1f%%)\n", pre, total,
             n["calling"], 100 * n["calling"] / total, n["workers"], 100 * n["workers"] / total, n["other"], 100 * n["other"] / total
      for (s in c) if (!(s in w) && c[s] >= 3) { printf "  calling thread only: %5d  %s\n", c[s], s | "sort -k4,4nr"; only += c[s] }
      close("sort -k4,4nr")
      printf "  calling thread only, total: %d (%.1f%% of all samples)\n", only, 100 * only / total
    }'
