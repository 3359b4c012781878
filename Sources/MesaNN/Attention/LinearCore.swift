import MesaTensor

/// Causal linear attention (SPEC §2), per head: out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'} —
/// α = identity, causal including the diagonal, no scaling. As matrices per (sequence,
/// head): A = tril(Q Kᵀ), O = A V; see ScoreCore.swift for the backward.
///
/// Two forms, chosen per call from T, d_k, d_v (`ChunkedMix.prefersChunked`) unless
/// `AttentionSpec.form` forces one: the quadratic one of ScoreCore.swift (keeps A for the
/// backward) and the chunked one of ChunkedMix.swift (keeps nothing T×T). The chunked
/// backward is three chunked mixes:
///   dq_t = Σ_{t'≤t} (dO_tᵀ v_{t'}) k_{t'},  dk_{t'} = Σ_{t≥t'} (v_{t'}ᵀ dO_t) q_t,
///   dv_{t'} = Σ_{t≥t'} (k_{t'}ᵀ q_t) dO_t.
public struct LinearCore: ScoreAttentionCore {
    public static let name = "linear"
    public static let summary = "linear attention: out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'}"
    public static let usesSoftmax = false

    public let form: AttentionForm

    public init(_ spec: AttentionSpec) { form = spec.form }

    /// Whether a head of these sizes runs in the chunked form.
    @inline(__always)
    public func chunked(length: Int, keySize: Int, valueSize: Int) -> Bool {
        ChunkedMix.usesChunked(form, length: length, keySize: keySize, valueSize: valueSize)
    }

    public func keepsWeights(length: Int, keySize: Int, valueSize: Int) -> Bool {
        !chunked(length: length, keySize: keySize, valueSize: valueSize)
    }

    public func scratchCount(length: Int, keySize: Int, valueSize: Int) -> Int {
        chunked(length: length, keySize: keySize, valueSize: valueSize)
            ? ChunkPanels<Double>.count(width: max(keySize, valueSize))
            : ScorePanels<Double>.count(length: length, keySize: keySize, valueSize: valueSize)
    }

    @inline(__always)
    public func forward<S: TensorScalar>(_ h: HeadView<S>, parameters: UnsafePointer<S>, out: UnsafeMutablePointer<S>,
                                         outStride: Int, scratch: UnsafeMutablePointer<S>, record: CoreRecord<S>) {
        guard chunked(length: h.length, keySize: h.keySize, valueSize: h.valueSize) else {
            scoreCoreForward(softmax: false, h, out: out, outStride: outStride, scratch: scratch, weights: record.weights)
            return
        }
        chunkedCausalMix(x: h.q, xStride: h.qkStride, y: h.k, yStride: h.qkStride, width: h.keySize, z: h.v,
                         zStride: h.vStride, zWidth: h.valueSize, length: h.length, gamma: 1, reverse: false,
                         out: out, outStride: outStride, scratch: scratch)
        if let w = record.weights { recordScores(h.q, xStride: h.qkStride, h.k, yStride: h.qkStride, length: h.length, width: h.keySize,
                         gamma: 1, into: w) }
    }

    @inline(__always)
    public func backward<S: TensorScalar>(_ h: HeadView<S>, parameters: UnsafePointer<S>, dOut: UnsafePointer<S>,
                                          doutStride: Int, grad: HeadView<S>, dParameters: UnsafeMutablePointer<S>,
                                          scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?) {
        let (t, dk, dv) = (h.length, h.keySize, h.valueSize)
        guard chunked(length: t, keySize: dk, valueSize: dv) else {
            scoreCoreBackward(softmax: false, h, dOut: dOut, doutStride: doutStride, grad: grad, scratch: scratch,
                              weights: weights)
            return
        }
        chunkedCausalMix(x: dOut, xStride: doutStride, y: h.v, yStride: h.vStride, width: dv, z: h.k, zStride: h.qkStride,
                         zWidth: dk, length: t, gamma: 1, reverse: false, out: grad.q, outStride: grad.qkStride,
                         scratch: scratch)
        chunkedCausalMix(x: h.v, xStride: h.vStride, y: dOut, yStride: doutStride, width: dv, z: h.q, zStride: h.qkStride,
                         zWidth: dk, length: t, gamma: 1, reverse: true, out: grad.k, outStride: grad.qkStride,
                         scratch: scratch)
        chunkedCausalMix(x: h.k, xStride: h.qkStride, y: h.q, yStride: h.qkStride, width: dk, z: dOut, zStride: doutStride,
                         zWidth: dv, length: t, gamma: 1, reverse: true, out: grad.v, outStride: grad.vStride,
                         scratch: scratch)
    }

    /// out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'}, one position at a time.
    public func reference(_ head: HeadSequence, parameters: [Double]) -> [[Double]] {
        (0..<head.length).map { t in
            var out = [Double](repeating: 0, count: head.v[t].count)
            for tp in 0...t {
                let score = dotRows(head.k[tp], head.q[t])
                for j in out.indices { out[j] += score * head.v[tp][j] }
            }
            return out
        }
    }
}

/// Forward over whole-batch tensors: the output [B, T, H·d_v] and the masked scores
/// A [B, H, T, T₈] (T₈ = T rounded up to 8; zero beyond the diagonal).
public func linearAttentionForward(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> (out: Tensor, scores: Tensor) {
    let (out, scores) = LinearCore(AttentionSpec(kind: .linear, heads: heads))
        .batchForward(CausalAttentionInputs(AttentionSpec(kind: .linear, heads: heads), q: q, k: k, v: v), record: true)
    return (out, scores!)
}

/// Differentiable causal linear attention over `heads` heads.
public func linearAttention(_ q: Variable, _ k: Variable, _ v: Variable, heads: Int) -> Variable {
    causalAttention(AttentionSpec(kind: .linear, heads: heads), q, k, v)
}

/// The reference over whole-batch tensors, in Double.
public func naiveLinearAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> Tensor {
    referenceAttention(AttentionSpec(kind: .linear, heads: heads), q: q, k: k, v: v)
}

/// W[t][t'] = γ^{t−t'} x_tᵀ y_{t'} for t' ≤ t, zero after (row stride T rounded up to 8): the
/// weights an analysis asks for when the mix ran in the chunked form, which never builds them.
func recordScores<S: TensorScalar>(_ x: UnsafePointer<S>, xStride: Int, _ y: UnsafePointer<S>, yStride: Int, length t: Int,
                                   width d: Int, gamma: S, into w: UnsafeMutablePointer<S>) {
    let tp = roundUp8(t)
    for i in 0..<t {
        var decay: S = 1
        for j in Swift.stride(from: i, through: 0, by: -1) {
            var dot: S = 0
            for c in 0..<d { dot += x[i * xStride + c] * y[j * yStride + c] }
            w[i * tp + j] = decay * dot
            decay *= gamma
        }
        for j in (i + 1)..<tp { w[i * tp + j] = 0 }
    }
}
