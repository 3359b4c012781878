#!/usr/bin/env python3
"""The peer of `mesa bench` (issue 14): the same models, written in PyTorch as a researcher
would write them, timed the same way (median ms per training step, B 256, T 50, forward +
backward + AdamW, data excluded), eager and with torch.compile, plus the mesa-layer alone and
the generation of a batch of 256 LDS sequences.

The models follow mesa's presets (Sources/MesaTraining/Presets.swift, SPEC §2):
  linear-1     constructed masked tokens [0, 0, s_t, s_{t-1}] (width 40), one linear-attention
               layer, 2 heads, d_k = d_v = 20, residual, clip ±1.5, prediction = first 10 coordinates
  linear-2     constructed tokens [0, s_t, s_t, s_{t-1}], two such layers with 4 heads
  softmax-7    raw tokens, dense 10 → 40, 7 pre-LayerNorm blocks (softmax attention, 4 heads,
               d_k 20, sinusoidal positional encoding of width 40 on the first layer's
               queries/keys; GELU MLP 40 → 160 → 40), clip ±1.5 after each block, dense 40 → 10
  hybrid-mesa  the same with a softmax layer and then a mesa-layer
The mesa-layer: q̃_t = R_t q_t with R_t = (Σ_{t'≤t} k k^T + I/λ)^{-1}, out_t = Σ_{t'≤t} (k_{t'}·q̃_t) v_{t'},
timed in two forms, the better counting (variants "-sm" and "-solve"): R_t by the Sherman–Morrison
recursion over positions (the paper's), and the normal equations solved at every position at once
(cumulative Gram matrices, one batched torch.linalg.solve).
No biases anywhere; loss ½·mean over positions of the squared error summed over coordinates.

Usage: python torch_step.py [--repeats 15] [--threads 2] [--compile] [--only NAME,...] [--csv FILE]
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, T, N = 256, 50, 10
CLIP = 1.5


class Attention(nn.Module):
    def __init__(self, kind, width, qk_width, heads, dk, std):
        super().__init__()
        self.kind, self.heads, self.dk = kind, heads, dk
        self.wq = nn.Parameter(torch.randn(heads * dk, qk_width) * std)
        self.wk = nn.Parameter(torch.randn(heads * dk, qk_width) * std)
        self.wv = nn.Parameter(torch.randn(heads * dk, width) * std)
        self.p = nn.Parameter(torch.randn(width, heads * dk) * std)
        if kind == "mesa":
            self.lam = nn.Parameter(torch.ones(heads))

    def forward(self, x, qk):
        b, t, _ = x.shape
        h, d = self.heads, self.dk
        q = (qk @ self.wq.T).view(b, t, h, d).transpose(1, 2)   # [B, H, T, d]
        k = (qk @ self.wk.T).view(b, t, h, d).transpose(1, 2)
        v = (x @ self.wv.T).view(b, t, h, d).transpose(1, 2)
        if self.kind == "softmax":
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif self.kind == "linear":
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            a = (q @ k.transpose(-1, -2)).masked_fill(~mask, 0.0)
            o = a @ v
        else:
            o = mesa_layer(q, k, v, self.lam)
        o = o.transpose(1, 2).reshape(b, t, h * d)
        return o @ self.p.T


MESA_FORM = "recursion"


def mesa_layer(q, k, v, lam):
    return mesa_layer_solve(q, k, v, lam) if MESA_FORM == "solve" else mesa_layer_recursion(q, k, v, lam)


def mesa_layer_solve(q, k, v, lam):
    """Normal equations at every position, batched: q̃_t = (Σ_{t'≤t} k kᵀ + I/λ)⁻¹ q_t."""
    b, h, t, d = q.shape
    gram = torch.cumsum(k.unsqueeze(-1) * k.unsqueeze(-2), dim=2) \
        + torch.eye(d, dtype=q.dtype) / lam.view(1, h, 1, 1, 1)
    qt = torch.linalg.solve(gram, q.unsqueeze(-1)).squeeze(-1)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    a = (qt @ k.transpose(-1, -2)).masked_fill(~mask, 0.0)
    return a @ v


def mesa_layer_recursion(q, k, v, lam):
    """Sherman–Morrison recursion over positions: R_t = R_{t-1} − R_{t-1} k kᵀ R_{t-1} / (1 + kᵀ R_{t-1} k)."""
    b, h, t, d = q.shape
    r = (lam.view(1, h, 1, 1) * torch.eye(d, dtype=q.dtype)).expand(b, h, d, d)
    qs = []
    for i in range(t):
        ki = k[:, :, i, :].unsqueeze(-1)                      # [B, H, d, 1]
        rk = r @ ki
        r = r - (rk @ rk.transpose(-1, -2)) / (1 + (ki.transpose(-1, -2) @ rk))
        qs.append((r @ q[:, :, i, :].unsqueeze(-1)).squeeze(-1))
    qt = torch.stack(qs, dim=2)                                # q̃ [B, H, T, d]
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    a = (qt @ k.transpose(-1, -2)).masked_fill(~mask, 0.0)
    return a @ v


def sinusoid(t, w):
    pos = torch.arange(t, dtype=torch.float32).unsqueeze(1)
    i = torch.arange(w // 2, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, 2 * i / w)
    pe = torch.zeros(t, w)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
    return pe


class Constructed(nn.Module):
    """linear-K on constructed tokens: no embedding, LayerNorm or MLP."""

    def __init__(self, depth, heads):
        super().__init__()
        self.layers = nn.ModuleList(Attention("linear", 4 * N, 4 * N, heads, 20, 2e-4) for _ in range(depth))

    def forward(self, e):
        for layer in self.layers:
            e = torch.clamp(e + layer(e, e), -CLIP, CLIP)
        return e[..., :N]


class Unconstructed(nn.Module):
    def __init__(self, kinds, width=40, pe=40):
        super().__init__()
        std = 0.05
        self.embed = nn.Parameter(torch.randn(width, N) * std)
        self.readout = nn.Parameter(torch.randn(N, width) * std)
        self.ln1 = nn.ModuleList(nn.LayerNorm(width, eps=1e-6, bias=False) for _ in kinds)
        self.ln2 = nn.ModuleList(nn.LayerNorm(width, eps=1e-6, bias=False) for _ in kinds)
        self.attn = nn.ModuleList(Attention(kind, width, width + (pe if i == 0 else 0), 4, 20, std)
                                  for i, kind in enumerate(kinds))
        self.up = nn.ParameterList(nn.Parameter(torch.randn(4 * width, width) * std) for _ in kinds)
        self.down = nn.ParameterList(nn.Parameter(torch.randn(width, 4 * width) * std) for _ in kinds)
        self.register_buffer("pe", sinusoid(T, pe))

    def forward(self, s):
        x = s @ self.embed.T
        for i in range(len(self.attn)):
            h = self.ln1[i](x)
            qk = torch.cat([h, self.pe.expand(h.shape[0], -1, -1)], dim=-1) if i == 0 else h
            x = x + self.attn[i](h, qk)
            x = x + F.gelu(self.ln2[i](x) @ self.up[i].T) @ self.down[i].T
            x = torch.clamp(x, -CLIP, CLIP)
        return x @ self.readout.T


def lds_batch(generator, b=B, t=T + 1, n=N, noise=0.01, clip=10.0):
    """b sequences of the fully observed LDS: W Haar-orthogonal per sequence, s_1 ~ U(−1, 1)."""
    z = torch.randn(b, n, n, generator=generator, dtype=torch.float64)
    qm, rm = torch.linalg.qr(z)
    w = qm * torch.sign(torch.diagonal(rm, dim1=-2, dim2=-1)).unsqueeze(-2)
    s = torch.empty(b, t, n, dtype=torch.float64)
    s[:, 0] = torch.rand(b, n, generator=generator, dtype=torch.float64) * 2 - 1
    eps = torch.randn(b, t, n, generator=generator, dtype=torch.float64) * noise
    for i in range(1, t):
        s[:, i] = torch.clamp((w @ s[:, i - 1].unsqueeze(-1)).squeeze(-1) + eps[:, i], -clip, clip)
    return s.float()


def constructed(s, masked):
    e = torch.zeros(s.shape[0], s.shape[1], 4 * N)
    if not masked:
        e[..., N:2 * N] = s
    e[..., 2 * N:3 * N] = s
    e[:, 1:, 3 * N:] = s[:, :-1]
    return e


def models():
    return {
        "linear-1": (lambda: Constructed(1, 2), lambda s: constructed(s, True)),
        "linear-2": (lambda: Constructed(2, 4), lambda s: constructed(s, False)),
        "softmax-7": (lambda: Unconstructed(["softmax"] * 7), lambda s: s),
        "hybrid-mesa": (lambda: Unconstructed(["softmax", "mesa"]), lambda s: s),
    }


def median_ms(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), min(times), max(times)


def step_bench(name, compile_mode, repeats):
    torch.manual_seed(0)
    make, tokens = models()[name]
    model = make()
    g = torch.Generator().manual_seed(0)
    s = lds_batch(g)
    x, y = tokens(s[:, :-1]), s[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.0)

    def loss_fn(x, y):
        return 0.5 * ((model(x) - y) ** 2).sum(-1).mean()

    f = loss_fn
    t0 = time.perf_counter()
    if compile_mode:
        f = torch.compile(loss_fn)
    def step():
        opt.zero_grad(set_to_none=True)
        loss = f(x, y)
        loss.backward()
        opt.step()
    if compile_mode:
        step()   # compiles
    compile_s = time.perf_counter() - t0
    return median_ms(step, repeats) + (compile_s,)


def mesa_alone(repeats):
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, 4, T, 20, requires_grad=True) * 0.3 for _ in range(3))
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    lam = torch.ones(4, requires_grad=True)
    def step():
        out = mesa_layer(q, k, v, lam)
        out.sum().backward()
    return median_ms(step, repeats)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--only", default="")
    ap.add_argument("--csv", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    only = set(filter(None, a.only.split(",")))
    rows = []
    def report(what, variant, med, lo, hi, extra=""):
        rows.append((what, variant, med, lo, hi))
        print(f"{what:12s} {variant:8s} median {med:8.2f} ms  (range {lo:.2f}–{hi:.2f}) {extra}", flush=True)
    global MESA_FORM
    for name in models():
        if only and name not in only:
            continue
        for form in (["recursion", "solve"] if "mesa" in name else ["recursion"]):
            MESA_FORM = form
            tag = "" if "mesa" not in name else ("-sm" if form == "recursion" else "-solve")
            med, lo, hi, _ = step_bench(name, False, a.repeats)
            report(name, "eager" + tag, med, lo, hi)
            if a.compile:
                med, lo, hi, c = step_bench(name, True, a.repeats)
                report(name, "compile" + tag, med, lo, hi, f"(compile {c:.1f} s)")
    if not only or "mesa-alone" in only:
        for form, tag in (("recursion", "-sm"), ("solve", "-solve")):
            MESA_FORM = form
            report("mesa-alone", "eager" + tag, *mesa_alone(a.repeats))
    if not only or "data" in only:
        g = torch.Generator().manual_seed(0)
        report("data", "eager", *median_ms(lambda: lds_batch(g), a.repeats))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("what,variant,median_ms,min_ms,max_ms\n")
            for r in rows:
                f.write(f"{r[0]},{r[1]},{r[2]:.3f},{r[3]:.3f},{r[4]:.3f}\n")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)


if __name__ == "__main__":
    main()
