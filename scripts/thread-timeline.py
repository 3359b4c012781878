#!/usr/bin/env python3
# Which threads of one mesa process run when, and what a thread runs while the others wait:
#   perf record -F 1999 -e cpu-clock -o t.data -- mesa train --preset softmax-7 --steps 1 --quiet --out /tmp/r
#   perf script -i t.data -F tid,time,ip,sym > t.txt; scripts/thread-timeline.py t.txt [BIN_MS] [RATE_HZ]
# Unlike idle-timeline.py (a whole-machine recording with call graphs, whose own cost distorts a
# short run), this reads a plain per-process recording: each sample is one thread on a CPU. It
# bins the samples by BIN_MS (default 50) and prints, per bin, how busy each of the busiest
# threads was (samples / samples a fully busy thread gives at RATE_HZ, default 1999) and the
# busiest symbol; then the bins where one thread ran alone (others under a quarter busy) with
# what it ran. This is how the safetensors header's 25 ms on one core at the end of a run was
# found (BENCHMARKS.md, "Stops 15–16").
import collections, re, signal, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
signal.signal(signal.SIGINT, signal.SIG_DFL)   # so does Ctrl-C (it only reads)

if len(sys.argv) < 2:
    sys.exit('usage: scripts/thread-timeline.py PERF_SCRIPT_OUTPUT [BIN_MS] [RATE_HZ]   (the commands are at the top of this file)')
try:
    bin_s = (float(sys.argv[2]) if len(sys.argv) > 2 else 50.0) / 1000
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 1999.0
except ValueError:
    sys.exit(f'thread-timeline: BIN_MS and RATE_HZ must be numbers, not {sys.argv[2:4]}')
if bin_s <= 0 or rate <= 0:
    sys.exit('thread-timeline: BIN_MS and RATE_HZ must be positive')
try:
    lines = open(sys.argv[1], errors='replace').read().splitlines()
except OSError as e:
    sys.exit(f'thread-timeline: cannot read {sys.argv[1]}: {e.strerror}')

samples = []  # (tid, time, symbol)
for line in lines:
    m = re.match(r'\s*(\d+)\s+([\d.]+):\s+[0-9a-f]+\s+(.*)', line)
    if m:
        samples.append((int(m.group(1)), float(m.group(2)), m.group(3).strip() or '?'))
if not samples:
    sys.exit(f'thread-timeline: no samples in {sys.argv[1]} (print them with `perf script -F tid,time,ip,sym`)')

t0 = min(s[1] for s in samples)
per_thread = collections.Counter(s[0] for s in samples)
threads = [t for t, _ in per_thread.most_common(4)]
full = rate * bin_s
bins = collections.defaultdict(collections.Counter)
symbols = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
for tid, t, sym in samples:
    b = int((t - t0) / bin_s)
    bins[b][tid] += 1
    symbols[b][tid][sym[:60]] += 1

span = max(s[1] for s in samples) - t0
busy = sum(per_thread.values()) / rate
print(f'span {span:.3f} s; {len(samples)} samples; threads by samples: '
      + ', '.join(f'{t} ({per_thread[t]})' for t in threads))
print(f'CPU seconds sampled {busy:.3f}: {busy / max(span, 1e-9):.2f} threads busy on average')
print('\n  from s  ' + '  '.join(f'{t:>8}' for t in threads) + '   busiest symbol')
for b in range(max(bins) + 1):
    c = bins.get(b, collections.Counter())
    top = collections.Counter()
    for tid in c: top.update(symbols[b][tid])
    name = top.most_common(1)[0][0] if top else '-'
    print(f'{b * bin_s:8.2f}  ' + '  '.join(f'{min(1, c.get(t, 0) / full):8.2f}' for t in threads) + f'   {name}')

print('\nbins where one thread ran alone (the others under 25% busy):')
alone = collections.Counter()
count = 0
for b, c in sorted(bins.items()):
    running = [t for t in c if c[t] / full >= 0.25]
    if len(running) == 1:
        count += 1
        alone.update({(running[0], s): n for s, n in symbols[b][running[0]].items()})
print(f'{count} of {len(bins)} bins')
for (tid, sym), n in alone.most_common(12):
    print(f'{n:6d}  {tid}  {sym}')
