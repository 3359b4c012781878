import MesaTensor

// The per-(sequence, head) "cores" of causal attention on strided views of a tile's
// Q, K, V: the part between the projections that differs between layer kinds. Each core
// gathers its head into aligned panels, runs the causal products of CausalProducts.swift,
// and writes its result back. Nothing is stored between forward and backward: the
// backward recomputes the T×T scores, which is cheaper than the memory traffic of
// keeping them for a whole batch.

/// One head of one sequence: row pointers and row strides into a tile's buffers.
struct HeadView<S: TensorScalar> {
    let length: Int, keySize: Int, valueSize: Int
    let q: UnsafeMutablePointer<S>, k: UnsafeMutablePointer<S>, qkStride: Int
    let v: UnsafeMutablePointer<S>, vStride: Int
}

/// Aligned panels for one worker, sized for one head.
struct CorePanels<S: TensorScalar> {
    let scratch: PanelScratch<S>
    let a: UnsafeMutablePointer<S>, dA: UnsafeMutablePointer<S>   // [T][tp]
    let qRows: UnsafeMutablePointer<S>, kRows: UnsafeMutablePointer<S>, kT: UnsafeMutablePointer<S>
    let vRows: UnsafeMutablePointer<S>, vT: UnsafeMutablePointer<S>, gRows: UnsafeMutablePointer<S>
    let result: UnsafeMutablePointer<S>
    // The mesa-layer's extra panels: q̃ and dq rows, a second score panel, the decay mask
    // γ^{t−t'}, and the Sherman–Morrison state R [dp][dp] with its vector u.
    let qTilde: UnsafeMutablePointer<S>, dq: UnsafeMutablePointer<S>, s2: UnsafeMutablePointer<S>
    let decay: UnsafeMutablePointer<S>, r: UnsafeMutablePointer<S>, u: UnsafeMutablePointer<S>

    init(length t: Int, keySize dk: Int, valueSize dv: Int) {
        let tp = roundUp8(t), dp = roundUp8(max(dk, dv))
        scratch = PanelScratch<S>(capacity: 4 * t * tp + 9 * (t * dp + dp * tp) + dp * dp + dp + 256)
        a = scratch.panel(t * tp); dA = scratch.panel(t * tp)
        qRows = scratch.panel(t * dp); kRows = scratch.panel(t * dp); kT = scratch.panel(dp * tp)
        vRows = scratch.panel(t * dp); vT = scratch.panel(dp * tp); gRows = scratch.panel(t * dp)
        result = scratch.panel(t * dp)
        qTilde = scratch.panel(t * dp); dq = scratch.panel(t * dp); s2 = scratch.panel(t * tp)
        decay = scratch.panel(t * tp); r = scratch.panel(dp * dp); u = scratch.panel(dp)
    }
}

/// Causal linear attention (α = identity) or softmax attention (logits / √d_k) of one head:
/// out_t = Σ_{t'≤t} α(k_{t'}ᵀ q_t) v_{t'}.
@inline(__always)
/// `weights`, when given, receives the T×tp weights A (64-byte aligned) for the backward.
func scoreCoreForward<S: TensorScalar>(softmax: Bool, _ h: HeadView<S>, out: UnsafeMutablePointer<S>, outStride: Int,
                                       _ p: CorePanels<S>, weights: UnsafeMutablePointer<S>? = nil) {
    let t = h.length
    let a = weights ?? p.a
    gatherRows(h.q, stride: h.qkStride, rows: t, width: h.keySize, into: p.qRows)
    gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kT)
    gatherRows(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vRows)
    let scale: S = softmax ? 1 / S(h.keySize).squareRoot() : 1
    causalScores(x: p.qRows, yT: p.kT, length: t, width: h.keySize, scale: scale, into: a)
    if softmax { causalSoftmaxRows(a, t) }
    causalMix(a, p.vRows, length: t, width: h.valueSize, into: p.result)
    scatterRows(p.result, rows: t, width: h.valueSize, into: out, stride: outStride)
}

/// Backward of `scoreCoreForward`: from dout (rows with stride `doutStride`) writes dq, dk,
/// dv into the views `grad`. `weights` are the forward's A when it kept them (else they
/// are recomputed).
@inline(__always)
func scoreCoreBackward<S: TensorScalar>(softmax: Bool, _ h: HeadView<S>, dOut: UnsafeMutablePointer<S>,
                                        doutStride: Int, grad: HeadView<S>, _ p: CorePanels<S>,
                                        weights: UnsafePointer<S>? = nil) {
    let t = h.length
    let scale: S = softmax ? 1 / S(h.keySize).squareRoot() : 1
    gatherRows(h.q, stride: h.qkStride, rows: t, width: h.keySize, into: p.qRows)
    let a: UnsafePointer<S>
    if let weights {
        a = weights
    } else {
        gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kT)
        causalScores(x: p.qRows, yT: p.kT, length: t, width: h.keySize, scale: scale, into: p.a)
        if softmax { causalSoftmaxRows(p.a, t) }
        a = UnsafePointer(p.a)
    }
    // dA = tril(dO Vᵀ); for softmax dS = A ⊙ (dA − rowsum(A ⊙ dA)).
    gatherRows(dOut, stride: doutStride, rows: t, width: h.valueSize, into: p.gRows)
    gatherTransposed(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vT)
    causalScores(x: p.gRows, yT: p.vT, length: t, width: h.valueSize, scale: 1, into: p.dA)
    if softmax { causalSoftmaxBackwardRows(a, p.dA, t) }
    // dV = Aᵀ dO
    causalMixTransposed(a, p.gRows, length: t, width: h.valueSize, into: p.result)
    scatterRows(p.result, rows: t, width: h.valueSize, into: grad.v, stride: grad.vStride)
    // dQ = dA K (· scale)
    gatherRows(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kRows)
    causalMix(p.dA, p.kRows, length: t, width: h.keySize, into: p.result)
    scatterRows(p.result, rows: t, width: h.keySize, scale: scale, into: grad.q, stride: grad.qkStride)
    // dK = dAᵀ Q (· scale)
    causalMixTransposed(p.dA, p.qRows, length: t, width: h.keySize, into: p.result)
    scatterRows(p.result, rows: t, width: h.keySize, scale: scale, into: grad.k, stride: grad.qkStride)
}
