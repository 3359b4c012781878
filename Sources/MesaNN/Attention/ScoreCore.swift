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

/// Σ_i x_i y_i of two rows (for the plain references).
@inline(__always)
func dotRows(_ x: [Double], _ y: [Double]) -> Double {
    var s = 0.0
    for i in 0..<x.count { s += x[i] * y[i] }
    return s
}
