#!/usr/bin/env bash
# Runs every benchmark in BENCHMARKS.md three times (the machine is noisy; the document
# gives the median of the three medians). Builds first. Takes about ten minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
swift build -c release --product mesa
mesa=.build/release/mesa
for round in 1 2 3; do
    echo "=== round $round"
    $mesa bench --blas
    for preset in linear-1 linear-2 hybrid-mesa softmax-7; do
        $mesa bench --preset "$preset" --repeats 20
    done
    $mesa bench --mesa-layer --repeats 20
done
