#!/usr/bin/env python3
# Where a core idles during a two-thread step: record the whole machine, then
#   MESA_THREADS=2 perf record -a -F 1999 -e cpu-clock -g -o a.data -- mesa train --preset linear-2 --steps 150 --set evalEvery=100000 --quiet --out /tmp/r
#   perf script -i a.data -F comm,tid,cpu,time,ip,sym > a.txt; scripts/idle-timeline.py a.txt
# Bins the samples by time (one sampling period) and prints the share of bins where both CPUs ran
# something while mesa ran, and, for the bins where one CPU idled, which mesa frame the other ran.
import sys, re, collections
if len(sys.argv) < 2:
    sys.exit('usage: scripts/idle-timeline.py PERF_SCRIPT_OUTPUT [SAMPLE_PERIOD_S]   (the commands are at the top of this file)')
try:
    source = open(sys.argv[1], errors='replace')
except OSError as e:
    sys.exit(f'idle-timeline: cannot read {sys.argv[1]}: {e.strerror}')
# parse `perf script -F comm,tid,cpu,time,ip,sym` of a system-wide cpu-clock recording
samples = []
cur = None
for line in source:
    if not line.strip():
        if cur: samples.append(cur); cur = None
        continue
    if not line.startswith('\t') and not line.startswith(' ' * 8):
        m = re.match(r'\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):', line)
        if m:
            cur = [m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4)), []]
        continue
    if cur is not None:
        parts = line.strip().split(None, 1)
        cur[4].append(parts[1] if len(parts) > 1 else '?')
if cur: samples.append(cur)
pid_main = None
for c, tid, cpu, t, st in samples:
    if c == 'mesa': pid_main = tid; break
period = float(sys.argv[2]) if len(sys.argv) > 2 else 1/1999
bins = collections.defaultdict(dict)
for c, tid, cpu, t, st in samples:
    bins[round(t / period)][cpu] = (c, tid, st)
def label(st):
    # first frame that belongs to mesa (Swift symbol with Mesa) and the leaf
    leaf = st[0] if st else '?'
    mesa = next((s for s in st if 'Mesa' in s), '?')
    m = re.match(r'\$s\d+(Mesa\w+?)\d+(\w{0,60})', mesa)
    mesa = (m.group(1) + ' ' + m.group(2)) if m else mesa[:70]
    return leaf[:40], mesa
alone = collections.Counter(); alone_leaf = collections.Counter(); roles = collections.Counter()
both = 0; total = 0
for b, d in bins.items():
    if len(d) < 2: continue
    s0, s1 = d.get(0), d.get(1)
    busy = [x for x in (s0, s1) if x[0] != 'swapper']
    if not any(x[0] == 'mesa' for x in busy): continue
    total += 1
    if len(busy) == 2: both += 1; continue
    x = busy[0]
    role = 'main' if x[1] == pid_main else ('mesa-other' if x[0] == 'mesa' else x[0])
    roles[role] += 1
    leaf, mesa = label(x[2])
    alone[(role, mesa)] += 1; alone_leaf[leaf] += 1
if total == 0:
    sys.exit(f'idle-timeline: no sample of a process named mesa on two CPUs in {sys.argv[1]} '
             '(record with `perf record -a` and print with `perf script -F comm,tid,cpu,time,ip,sym`)')
print(f'bins with mesa running: {total}; both CPUs busy: {both} ({100*both/total:.1f}%); one idle: {total-both}')
print('who runs alone:', roles.most_common())
for k, v in alone.most_common(25): print(f'{v:6d} {100*v/total:5.1f}%  {k[0]:10s} {k[1]}')
print('leaf:')
for k, v in alone_leaf.most_common(15): print(f'{v:6d}  {k}')
