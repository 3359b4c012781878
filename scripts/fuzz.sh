#!/usr/bin/env bash
# Fuzzes the parsers of untrusted files with libFuzzer (Swift's -sanitize=fuzzer, Linux):
# SafetensorsFuzz (checkpoint.safetensors) and ConfigFuzz (config.json: strict decoding,
# validation). Usage: scripts/fuzz.sh [seconds per target, default 120] [target ...]
# Builds into .build-fuzz/ (MESA_FUZZ=1 adds the targets to the package; a debug build, so
# overflow and bounds checks stay on), seeds each corpus from real files (a one-step
# checkpoint and config.json, every preset's configuration), and keeps the corpus in
# .build-fuzz/corpus/TARGET between runs. A crashing input is left in
# .build-fuzz/crashes/TARGET/ and the script exits non-zero; make it a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(SafetensorsFuzz ConfigFuzz)
scripts/setup.sh --no-build

scratch=.build-fuzz
seeds=$scratch/seeds
swift build -c release --product mesa >&2
mesa=$(swift build -c release --show-bin-path)/mesa
rm -rf "$seeds" && mkdir -p "$seeds/SafetensorsFuzz" "$seeds/ConfigFuzz"
run=$seeds/run
"$mesa" train --preset linear-1 --steps 1 --batch-size 4 --length 6 --set evalBatchSize=4 --out "$run" >/dev/null
cp "$run/checkpoint.safetensors" "$seeds/SafetensorsFuzz/linear-1.safetensors"
cp "$run/config.json" "$seeds/ConfigFuzz/run-config.json"
for preset in $("$mesa" presets | awk '{print $1}'); do
    "$mesa" presets --show "$preset" > "$seeds/ConfigFuzz/$preset.json"
done
rm -rf "$run"

status=0
for target in "${targets[@]}"; do
    MESA_FUZZ=1 swift build -c debug --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer -Xswiftc -O \
        --product "$target" >&2
    bin=$(MESA_FUZZ=1 swift build -c debug --scratch-path "$scratch" --show-bin-path)/$target
    corpus=$scratch/corpus/$target crashes=$scratch/crashes/$target
    mkdir -p "$corpus" "$crashes"
    echo "fuzz: $target for $seconds s (corpus $corpus)" >&2
    "$bin" "$corpus" "$seeds/$target" -max_total_time="$seconds" -max_len=131072 -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$crashes/" || status=$?
done
exit $status
