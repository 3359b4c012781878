import CSupport
import MesaTensor
import RealModule

/// Causal softmax attention (SPEC §2), per head:
///   A_{t,t'} = softmax_{t' ≤ t}(k_{t'}ᵀ q_t / √d_k),   out_t = Σ_{t'≤t} A_{t,t'} v_{t'}.
/// Backward: dA = dO Vᵀ, dS = A ⊙ (dA − rowsum(A ⊙ dA)), dQ = dS K/√d_k, dK = dSᵀ Q/√d_k,
/// dV = Aᵀ dO (ScoreCore.swift).
public struct SoftmaxCore: ScoreAttentionCore {
    public static let name = "softmax"
    public static let summary = "softmax attention: out_t = Σ_{t'≤t} softmax_{t'}(k_{t'}ᵀ q_t / √d_k) v_{t'}"
    /// Softmax layers keep raw queries and keys: `normalizeQueryKey` is for linear kinds.
    public static var acceptsQueryKeyNormalization: Bool { false }
    public static let usesSoftmax = true

    public init(_ spec: AttentionSpec) {}

    /// Keeping A for the backward saves recomputing the scores and an exp per entry, at
    /// T·T₈ elements per head and sequence. Beyond T 256 (256 KiB per head in Float32: 2.6 GB
    /// per layer at B 256, H 4, T 800) the backward recomputes A instead — the same
    /// operations, so the same bytes — and a step at T 800 fits in memory.
    public static let keptLength = 256

    public func keepsWeights(length: Int, keySize: Int, valueSize: Int) -> Bool { length <= Self.keptLength }

    /// The formula as written: logits k_{t'}ᵀ q_t / √d_k, a max-shifted softmax over t' ≤ t.
    public func reference(_ head: HeadSequence, parameters: [Double]) -> [[Double]] {
        let scale = 1 / Double(head.q.first?.count ?? 1).squareRoot()
        return (0..<head.length).map { t in
            let logits = (0...t).map { dotRows(head.k[$0], head.q[t]) * scale }
            let m = logits.max()!
            let w = logits.map { Double.exp($0 - m) }
            let z = w.reduce(0, +)
            var out = [Double](repeating: 0, count: head.v[t].count)
            for tp in 0...t { for j in out.indices { out[j] += w[tp] / z * head.v[tp][j] } }
            return out
        }
    }
}

/// Row-wise causal softmax of a T×T score matrix (row stride tp) in place;
/// entries t' > t (and the padding) become 0. Row t works on whole SIMD vectors up to
/// t + 1 rounded up to 8 (Swift's scalar `max` does not vectorize: it orders NaNs).
@inline(__always)
func causalSoftmaxRows<S: TensorScalar>(_ a: UnsafeMutablePointer<S>, _ t: Int, wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_causal_softmax_rows(asFloat(a), t)
        return
    }
    let tp = roundUp8(t)
    for i in 0..<t {
        let row = a + i * tp
        let n = i + 1, full = n / 8 * 8, covered = roundUp8(n)
        // Eight running maxima (written out so that they become one vector compare-select).
        var (m0, m1, m2, m3) = (-S.infinity, -S.infinity, -S.infinity, -S.infinity)
        var (m4, m5, m6, m7) = (-S.infinity, -S.infinity, -S.infinity, -S.infinity)
        for c in Swift.stride(from: 0, to: full, by: 8) {
            let r = row + c
            m0 = r[0] > m0 ? r[0] : m0; m1 = r[1] > m1 ? r[1] : m1
            m2 = r[2] > m2 ? r[2] : m2; m3 = r[3] > m3 ? r[3] : m3
            m4 = r[4] > m4 ? r[4] : m4; m5 = r[5] > m5 ? r[5] : m5
            m6 = r[6] > m6 ? r[6] : m6; m7 = r[7] > m7 ? r[7] : m7
        }
        var m = -S.infinity
        for x in [m0, m1, m2, m3, m4, m5, m6, m7] where x > m { m = x }
        for j in full..<n where row[j] > m { m = row[j] }
        for j in 0..<covered { row[j] = tensorExp(row[j] - m) }
        for j in n..<tp { row[j] = 0 }
        var zv = Vec<S>()
        for c in Swift.stride(from: 0, to: covered, by: 8) { zv += loadVecUnaligned(row + c) }
        let inv = 1 / zv.sum()
        for c in Swift.stride(from: 0, to: covered, by: 8) { storeVec(loadVecUnaligned(row + c) * inv, row + c) }
    }
}

/// Backward of the causal softmax, in place: dA ← A ⊙ (dA − rowsum(A ⊙ dA)) for each row
/// (A zero beyond the diagonal, so those entries stay 0 for finite dA).
@inline(__always)
func causalSoftmaxBackwardRows<S: TensorScalar>(_ a: UnsafePointer<S>, _ dA: UnsafeMutablePointer<S>, _ t: Int,
                                                wide: Bool = ScoreKernels.wide) {
    if S.self == Float.self && wide {
        mesa512_causal_softmax_backward_rows(asFloat(a), asFloat(dA), t)
        return
    }
    let tp = roundUp8(t)
    for i in 0..<t {
        let ar = a + i * tp, dr = dA + i * tp, covered = roundUp8(i + 1)
        var rv = Vec<S>()
        for c in Swift.stride(from: 0, to: covered, by: 8) { rv += loadVecUnaligned(ar + c) * loadVecUnaligned(dr + c) }
        let r = Vec<S>(repeating: rv.sum())
        for c in Swift.stride(from: 0, to: covered, by: 8) { storeVec(loadVecUnaligned(ar + c) * (loadVecUnaligned(dr + c) - r), dr + c) }
    }
}

/// Forward over whole-batch tensors: output [B, T, H·d_v] and attention weights
/// A [B, H, T, T₈] (T₈ = T rounded up to 8; zero beyond the diagonal; see
/// `unpaddedAttentionWeights`).
public func softmaxAttentionForward(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> (out: Tensor, weights: Tensor) {
    let spec = AttentionSpec(kind: .softmax, heads: heads)
    let (out, weights) = SoftmaxCore(spec).batchForward(CausalAttentionInputs(spec, q: q, k: k, v: v), record: true)
    return (out, weights!)
}

/// Attention weights [B, H, T, T] from the padded [B, H, T, T₈] the kernels keep.
public func unpaddedAttentionWeights(_ w: Tensor) -> Tensor {
    precondition(w.shape.count == 4, "attention weights must be [B, H, T, T₈], got \(w.shape)")
    let t = w.shape[2]
    return columns(w, 0..<t)
}

/// Differentiable causal softmax attention over `heads` heads.
public func softmaxAttention(_ q: Variable, _ k: Variable, _ v: Variable, heads: Int) -> Variable {
    causalAttention(AttentionSpec(kind: .softmax, heads: heads), q, k, v)
}

/// The reference over whole-batch tensors, in Double.
public func naiveSoftmaxAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int) -> Tensor {
    referenceAttention(AttentionSpec(kind: .softmax, heads: heads), q: q, k: k, v: v)
}
