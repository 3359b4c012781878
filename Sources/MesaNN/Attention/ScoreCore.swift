import CSupport
import MesaTensor

// The core shared by the kinds whose output is a causal mix of the values with weights
// computed from query–key scores (SPEC §2): out_t = Σ_{t'≤t} A_{t,t'} v_{t'} with
// A = α(tril(Q Kᵀ) · scale): α = identity for linear attention, the row-wise softmax for
// softmax attention. Backward, with dA = tril(dO Vᵀ) and dS = dA (linear) or
// A ⊙ (dA − rowsum(A ⊙ dA)) (softmax): dV = Aᵀ dO, dQ = dS K · scale, dK = dSᵀ Q · scale —
// the causal products of CausalProducts.swift on one head's gathered panels.

/// A kind whose core is the score core above: it only says whether α is the softmax, and
/// gives its name and reference.
public protocol ScoreAttentionCore: AttentionCore {
    static var usesSoftmax: Bool { get }
}

extension ScoreAttentionCore {
    public static var hasAttentionWeights: Bool { true }
    /// A costs T² per head to keep and as much (and for softmax an exp per entry) to
    /// recompute; keeping it is faster.
    public static var keepsWeightsForBackward: Bool { true }

    public func scratchCount(length: Int, keySize: Int, valueSize: Int) -> Int {
        ScorePanels<Double>.count(length: length, keySize: keySize, valueSize: valueSize)
    }

    @inline(__always)
    public func forward<S: TensorScalar>(_ head: HeadView<S>, parameters: UnsafePointer<S>, out: UnsafeMutablePointer<S>,
                                         outStride: Int, scratch: UnsafeMutablePointer<S>, record: CoreRecord<S>) {
        scoreCoreForward(softmax: Self.usesSoftmax, head, out: out, outStride: outStride, scratch: scratch,
                         weights: record.weights)
    }

    @inline(__always)
    public func backward<S: TensorScalar>(_ head: HeadView<S>, parameters: UnsafePointer<S>, dOut: UnsafePointer<S>,
                                          doutStride: Int, grad: HeadView<S>, dParameters: UnsafeMutablePointer<S>,
                                          scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?) {
        scoreCoreBackward(softmax: Self.usesSoftmax, head, dOut: dOut, doutStride: doutStride, grad: grad,
                          scratch: scratch, weights: weights)
    }
}

/// One head's panels, carved from the core's scratch in a fixed order.
struct ScorePanels<S: TensorScalar> {
    let a: UnsafeMutablePointer<S>, dA: UnsafeMutablePointer<S>            // [T][tp]
    let qRows: UnsafeMutablePointer<S>, kRows: UnsafeMutablePointer<S>     // [T][dp]
    let vRows: UnsafeMutablePointer<S>, gRows: UnsafeMutablePointer<S>, result: UnsafeMutablePointer<S>
    let kT: UnsafeMutablePointer<S>, vT: UnsafeMutablePointer<S>           // [dp][tp]

    static func count(length t: Int, keySize dk: Int, valueSize dv: Int) -> Int {
        let tp = roundUp8(t), dp = roundUp8(max(dk, dv))
        return 2 * t * tp + 5 * t * dp + 2 * dp * tp + 9 * 8
    }

    @inline(__always)
    init(_ scratch: UnsafeMutablePointer<S>, length t: Int, keySize dk: Int, valueSize dv: Int) {
        let tp = roundUp8(t), dp = roundUp8(max(dk, dv))
        var c = PanelCarver(scratch)
        a = c.panel(t * tp); dA = c.panel(t * tp)
        qRows = c.panel(t * dp); kRows = c.panel(t * dp); vRows = c.panel(t * dp); gRows = c.panel(t * dp)
        result = c.panel(t * dp)
        kT = c.panel(dp * tp); vT = c.panel(dp * tp)
    }
}

/// Forward of one head; the weights A go to `record.weights` when given (64-byte aligned).
@inline(__always)
func scoreCoreForward<S: TensorScalar>(softmax: Bool, _ h: HeadView<S>, out: UnsafeMutablePointer<S>, outStride: Int,
                                       scratch: UnsafeMutablePointer<S>, weights: UnsafeMutablePointer<S>?,
                                       wide: Bool = ScoreKernels.wide) {
    let t = h.length
    let p = ScorePanels(scratch, length: t, keySize: h.keySize, valueSize: h.valueSize)
    let a = weights ?? p.a
    if S.self == Float.self && wide {
        scoreCoreForwardInPlace(softmax: softmax, h, out: out, outStride: outStride, a: a, kT: p.kT)
        return
    }
    gatherRows(h.q, stride: h.qkStride, rows: t, width: h.keySize, into: p.qRows, wide: wide)
    gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kT, wide: wide)
    gatherRows(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vRows, wide: wide)
    let scale: S = softmax ? 1 / S(h.keySize).squareRoot() : 1
    causalScores(x: p.qRows, yT: p.kT, length: t, width: h.keySize, scale: scale, into: a, wide: wide)
    if softmax { causalSoftmaxRows(a, t, wide: wide) }
    causalMix(a, p.vRows, length: t, width: h.valueSize, into: p.result, wide: wide)
    scatterRows(p.result, rows: t, width: h.valueSize, into: out, stride: outStride, wide: wide)
}

/// Backward of one head: dq, dk, dv into `grad`. `weights` are the forward's A when kept
/// (else they are recomputed).
@inline(__always)
func scoreCoreBackward<S: TensorScalar>(softmax: Bool, _ h: HeadView<S>, dOut: UnsafePointer<S>, doutStride: Int,
                                        grad: HeadView<S>, scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?,
                                        wide: Bool = ScoreKernels.wide) {
    let t = h.length
    let p = ScorePanels(scratch, length: t, keySize: h.keySize, valueSize: h.valueSize)
    if S.self == Float.self && wide {
        scoreCoreBackwardInPlace(softmax: softmax, h, dOut: dOut, doutStride: doutStride, grad: grad, panels: p,
                                 weights: weights)
        return
    }
    let scale: S = softmax ? 1 / S(h.keySize).squareRoot() : 1
    gatherRows(h.q, stride: h.qkStride, rows: t, width: h.keySize, into: p.qRows, wide: wide)
    let a: UnsafePointer<S>
    if let weights {
        a = weights
    } else {
        gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kT, wide: wide)
        causalScores(x: p.qRows, yT: p.kT, length: t, width: h.keySize, scale: scale, into: p.a, wide: wide)
        if softmax { causalSoftmaxRows(p.a, t, wide: wide) }
        a = UnsafePointer(p.a)
    }
    // dA = tril(dO Vᵀ); for softmax dS = A ⊙ (dA − rowsum(A ⊙ dA)).
    gatherRows(dOut, stride: doutStride, rows: t, width: h.valueSize, into: p.gRows, wide: wide)
    gatherTransposed(h.v, stride: h.vStride, rows: t, width: h.valueSize, into: p.vT, wide: wide)
    causalScores(x: p.gRows, yT: p.vT, length: t, width: h.valueSize, scale: 1, into: p.dA, wide: wide)
    if softmax { causalSoftmaxBackwardRows(a, p.dA, t, wide: wide) }
    // dV = Aᵀ dO
    causalMixTransposed(a, p.gRows, length: t, width: h.valueSize, into: p.result, wide: wide)
    scatterRows(p.result, rows: t, width: h.valueSize, into: grad.v, stride: grad.vStride, wide: wide)
    // dQ = dS K (· scale)
    gatherRows(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: p.kRows, wide: wide)
    causalMix(p.dA, p.kRows, length: t, width: h.keySize, into: p.result, wide: wide)
    scatterRows(p.result, rows: t, width: h.keySize, scale: scale, into: grad.q, stride: grad.qkStride, wide: wide)
    // dK = dSᵀ Q (· scale)
    causalMixTransposed(p.dA, p.qRows, length: t, width: h.keySize, into: p.result, wide: wide)
    scatterRows(p.result, rows: t, width: h.keySize, scale: scale, into: grad.k, stride: grad.qkStride, wide: wide)
}

// The AVX-512 path (Float32): the row operands are read and the results written in place in the
// [Q K V] / dO / d[Q K V] rows (the strided kernels of scorecore512.c, columns < d only), so only
// the transposed panels kT, vT and the scores A, dA are copied or kept in the scratch. The same
// kernels in the same order as the panel path above (gatherRows → kernel → scatterRows), bit for bit.

@inline(__always)
func scoreCoreForwardInPlace<S: TensorScalar>(softmax: Bool, _ h: HeadView<S>, out: UnsafeMutablePointer<S>,
                                              outStride: Int, a: UnsafeMutablePointer<S>, kT: UnsafeMutablePointer<S>) {
    let t = h.length, scale: Float = softmax ? 1 / Float(h.keySize).squareRoot() : 1
    gatherTransposed(h.k, stride: h.qkStride, rows: t, width: h.keySize, into: kT, wide: true)
    mesa512_causal_scores_strided(asFloat(h.q), h.qkStride, asFloat(kT), t, h.keySize, scale, asFloat(a))
    if softmax { mesa512_causal_softmax_rows(asFloat(a), t) }
    mesa512_causal_mix_strided(asFloat(a), asFloat(h.v), h.vStride, t, h.valueSize, 1, asFloat(out), outStride)
}

@inline(__always)
func scoreCoreBackwardInPlace<S: TensorScalar>(softmax: Bool, _ h: HeadView<S>, dOut: UnsafePointer<S>, doutStride: Int,
                                               grad: HeadView<S>, panels p: ScorePanels<S>, weights: UnsafePointer<S>?) {
    let t = h.length, dk = h.keySize, dv = h.valueSize
    let scale: Float = softmax ? 1 / Float(dk).squareRoot() : 1
    let q = asFloat(h.q), k = asFloat(h.k), qs = h.qkStride
    let a: UnsafePointer<Float>
    if let weights {
        a = asFloat(weights)
    } else {
        gatherTransposed(h.k, stride: qs, rows: t, width: dk, into: p.kT, wide: true)
        mesa512_causal_scores_strided(q, qs, asFloat(p.kT), t, dk, scale, asFloat(p.a))
        if softmax { mesa512_causal_softmax_rows(asFloat(p.a), t) }
        a = asFloat(UnsafePointer(p.a))
    }
    // dA = tril(dO Vᵀ); for softmax dS = A ⊙ (dA − rowsum(A ⊙ dA)).
    let dA = asFloat(p.dA)
    gatherTransposed(h.v, stride: h.vStride, rows: t, width: dv, into: p.vT, wide: true)
    mesa512_causal_scores_strided(asFloat(dOut), doutStride, asFloat(p.vT), t, dv, 1, dA)
    if softmax { mesa512_causal_softmax_backward_rows(a, dA, t) }
    // dV = Aᵀ dO; dQ = dS K · scale; dK = dSᵀ Q · scale.
    mesa512_causal_mix_transposed_strided(a, asFloat(dOut), doutStride, t, dv, 1, asFloat(grad.v), grad.vStride)
    mesa512_causal_mix_strided(dA, k, qs, t, dk, scale, asFloat(grad.q), grad.qkStride)
    mesa512_causal_mix_transposed_strided(dA, q, qs, t, dk, scale, asFloat(grad.k), grad.qkStride)
}

/// Σ_i x_i y_i of two rows (for the plain references).
@inline(__always)
func dotRows(_ x: [Double], _ y: [Double]) -> Double {
    var s = 0.0
    for i in 0..<x.count { s += x[i] * y[i] }
    return s
}
