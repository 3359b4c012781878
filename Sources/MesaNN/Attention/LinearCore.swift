import MesaTensor

/// Causal linear attention (SPEC §2), per head: out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'} —
/// α = identity, causal including the diagonal, no scaling. As matrices per (sequence,
/// head): A = tril(Q Kᵀ), O = A V; see ScoreCore.swift for the backward.
public struct LinearCore: ScoreAttentionCore {
    public static let name = "linear"
    public static let summary = "linear attention: out_t = Σ_{t'≤t} (k_{t'}ᵀ q_t) v_{t'}"
    public static let usesSoftmax = false

    public init(_ spec: AttentionSpec) {}

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
