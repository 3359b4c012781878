#!/usr/bin/env bash
# mesa against its PyTorch peer (issue 14): the same four presets (B 256, T 50; forward, backward
# and AdamW, data excluded), the mesa-layer alone (forward + backward) and a batch of 256 LDS
# sequences (the presets' vectorized stream, wall on all threads), in ROUNDS interleaved rounds
# (PyTorch, then mesa, in every round), each a median of REPEATS steps. Prints every round and, per
# line, the median over rounds and the ratio PyTorch / mesa. PyTorch runs from .venv-peer (made here
# with pip on first use; not needed by the tests). PyTorch's figure is the better of eager and
# torch.compile, as issue 14 defines the peer (the first compile takes minutes: hybrid-mesa's 132 s;
# later runs reuse inductor's cache); PEER_EAGER=1 times eager only.
# Usage: scripts/peer-bench.sh [ROUNDS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}; repeats=${2:-15}
venv=.venv-peer
if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch numpy
fi
mesa=.build/release/mesa
[ -x "$mesa" ] || swift build -c release --product mesa
threads=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
presets=(linear-1 linear-2 softmax-7 hybrid-mesa)
for r in $(seq "$rounds"); do
    echo "== round $r: PyTorch ($threads threads)"
    "$venv/bin/python" benchmarks/peer/torch_step.py --repeats "$repeats" --threads "$threads" \
        $([ -n "${PEER_EAGER:-}" ] || echo --compile) --csv "$work/torch-$r.csv"
    echo "== round $r: mesa ($threads threads)"
    : > "$work/mesa-$r.csv"
    for p in "${presets[@]}"; do
        ms=$(MESA_THREADS=$threads "$mesa" bench --preset "$p" --repeats "$repeats" --first-step-runs 0 \
             | awk '/step, data excluded/ { print $4; exit }')
        echo "$p mesa median $ms ms"; echo "$p,mesa,$ms" >> "$work/mesa-$r.csv"
    done
    ms=$(MESA_THREADS=$threads "$mesa" bench --mesa-layer --repeats "$repeats" | awk '/forward \+ backward/ { print $4; exit }')
    echo "mesa-alone mesa median $ms ms"; echo "mesa-alone,mesa,$ms" >> "$work/mesa-$r.csv"
    ms=$(MESA_THREADS=$threads "$mesa" bench --data --repeats "$repeats" | awk '/^ *vectorized, [0-9]+ threads?, wall/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ms") { print $i; exit } }')
    echo "data mesa median $ms ms (wall, $threads threads)"; echo "data,mesa,$ms" >> "$work/mesa-$r.csv"
done
echo
echo "median over $rounds rounds (ms per step; PyTorch: the better of its variants in each round)"
python3 - "$work" "$rounds" <<'PY'
import csv, statistics, sys, os
work, rounds = sys.argv[1], int(sys.argv[2])
torch, mesa = {}, {}
for r in range(1, rounds + 1):
    best = {}
    for row in csv.DictReader(open(os.path.join(work, f"torch-{r}.csv"))):
        best[row["what"]] = min(best.get(row["what"], float("inf")), float(row["median_ms"]))
    for k, v in best.items(): torch.setdefault(k, []).append(v)
    for line in open(os.path.join(work, f"mesa-{r}.csv")):
        k, _, v = line.strip().split(",")
        if v: mesa.setdefault(k, []).append(float(v))
print(f"{'':12s} {'PyTorch':>10s} {'mesa':>10s} {'PyTorch/mesa':>13s}")
for k in ["linear-1", "linear-2", "softmax-7", "hybrid-mesa", "mesa-alone", "data"]:
    if k in torch and k in mesa:
        t, m = statistics.median(torch[k]), statistics.median(mesa[k])
        print(f"{k:12s} {t:10.2f} {m:10.2f} {t / m:12.2f}x   (rounds: PyTorch {', '.join(f'{x:.1f}' for x in torch[k])}; mesa {', '.join(f'{x:.1f}' for x in mesa[k])})")
PY
