import MesaTensor

/// Causal linear attention (SPEC §2), per head: out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'} —
/// α = identity, causal including the diagonal, no scaling. As matrices per (sequence,
/// head): A = tril(Q Kᵀ), O = A V; see ScoreCore.swift for the backward.
public struct LinearCore: AttentionCore {
    public static let name = "linear"
    public static let summary = "linear attention: out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'}"
    public static var hasAttentionWeights: Bool { true }
    /// A costs T² per head to keep and as much to recompute; keeping it is faster here.
    public static var keepsWeightsForBackward: Bool { true }

    public init(_ spec: AttentionSpec) {}

    public func scratchCount(length: Int, keySize: Int, valueSize: Int) -> Int {
        ScorePanels<Double>.count(length: length, keySize: keySize, valueSize: valueSize)
    }

    @inline(__always)
    public func forward<S: TensorScalar>(_ head: HeadView<S>, parameters: UnsafePointer<S>, out: UnsafeMutablePointer<S>,
                                         outStride: Int, scratch: UnsafeMutablePointer<S>, record: CoreRecord<S>) {
        scoreCoreForward(softmax: false, head, out: out, outStride: outStride, scratch: scratch, weights: record.weights)
    }

    @inline(__always)
    public func backward<S: TensorScalar>(_ head: HeadView<S>, parameters: UnsafePointer<S>, dOut: UnsafePointer<S>,
                                          doutStride: Int, grad: HeadView<S>, dParameters: UnsafeMutablePointer<S>,
                                          scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?) {
        scoreCoreBackward(softmax: false, head, dOut: dOut, doutStride: doutStride, grad: grad, scratch: scratch,
                          weights: weights)
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
