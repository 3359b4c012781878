import MesaTensor

/// The attention variants of SPEC §2.
public enum LayerKind: String, Codable, Sendable, CaseIterable {
    /// α = identity, causal including the diagonal, no scaling.
    case linear
    /// Scaled (1/√d_k), causal softmax.
    case softmax
    /// The mesa-layer: per-head ridge regression solved token by token.
    case mesa
}

/// Multi-head self-attention without biases, SPEC §2:
/// q = W_Q e, k = W_K e, v = W_V e, Δe_t = Σ_h P_h Σ_{t'≤t} v_{t'} α(k_{t'}ᵀ q_t), and for the
/// mesa-layer Δe_t = Σ_h P_h Φ̂_{h,t} q_t with a learned λ_h per head (initialized to 1).
/// Weights are stored [out, in]: W_Q, W_K [H·d_k, D_qk], W_V [H·d_v, D], P [D, H·d_v],
/// head h in rows (columns of P) h·d..<(h+1)·d.
public final class SelfAttention {
    public let spec: AttentionSpec
    public var kind: LayerKind { spec.kind }
    public var heads: Int { spec.heads }
    public let keySize: Int, valueSize: Int
    public let query: Variable, key: Variable, value: Variable, projection: Variable
    /// The mesa-layer's regularization λ [H].
    public let lambda: Variable?

    public init(spec: AttentionSpec, width: Int, queryKeyWidth: Int, keySize: Int, valueSize: Int,
                initStd: Double, initializer: inout ParameterInitializer) {
        self.spec = spec
        self.keySize = keySize
        self.valueSize = valueSize
        let heads = spec.heads
        query = initializer.normal([heads * keySize, queryKeyWidth], std: initStd)
        key = initializer.normal([heads * keySize, queryKeyWidth], std: initStd)
        value = initializer.normal([heads * valueSize, width], std: initStd)
        projection = initializer.normal([width, heads * valueSize], std: initStd)
        lambda = spec.kind == .mesa ? initializer.constant([heads], 1) : nil
    }

    public func parameters(prefix: String) -> [NamedParameter] {
        [NamedParameter(prefix + "W_Q", query), NamedParameter(prefix + "W_K", key),
         NamedParameter(prefix + "W_V", value), NamedParameter(prefix + "P", projection)]
            + (lambda.map { [NamedParameter(prefix + "lambda", $0, decays: false)] } ?? [])
    }

    /// Δe [B, T, D] for the residual stream x [B, T, D]; queries and keys read `queryKeyInput`
    /// (x itself, or x with the positional encoding appended). Runs the fused kernel of
    /// AttentionLayerKernel.swift. The attention weights of a softmax layer go to `trace`
    /// when given.
    public func callAsFunction(_ x: Variable, queryKeyInput: Variable, trace: ((Tensor) -> Void)? = nil) -> Variable {
        if let trace, kind == .softmax {
            Variable.withoutGradients {
                let (q, k, v) = projections(x, queryKeyInput: queryKeyInput)
                trace(unpaddedAttentionWeights(softmaxAttentionForward(q: q.value, k: k.value, v: v.value, heads: heads).weights))
            }
        }
        return attentionLayer(spec, x, queryKeyInput: queryKeyInput, wq: query, wk: key, wv: value, p: projection,
                              lambda: lambda)
    }

    /// The same function composed from separate differentiable operations over whole-batch
    /// tensors (projections, normalization, attention, output projection): the reference the
    /// fused kernel is tested against.
    public func composed(_ x: Variable, queryKeyInput: Variable) -> Variable {
        let (q, k, v) = projections(x, queryKeyInput: queryKeyInput)
        let o: Variable                       // [B, T, H·d_v]
        switch kind {
        case .linear: o = linearAttention(q, k, v, heads: heads)
        case .softmax: o = softmaxAttention(q, k, v, heads: heads)
        case .mesa: o = mesaAttention(q, k, v, lambda: lambda!, heads: heads, forget: spec.forget)
        }
        return linear(o, projection)          // [B, T, D]
    }

    /// q, k [B, T, H·d_k] (per-head L2-normalized when asked) and v [B, T, H·d_v].
    func projections(_ x: Variable, queryKeyInput: Variable) -> (Variable, Variable, Variable) {
        var q = linear(queryKeyInput, query), k = linear(queryKeyInput, key)
        if spec.normalizeQueryKey {
            q = l2NormalizeHeads(q, heads: heads)
            k = l2NormalizeHeads(k, heads: heads)
        }
        return (q, k, linear(x, value))
    }

    /// W_K[h]ᵀ W_Q[h] [D_qk, D_qk] of head h, in Double (SPEC §5.2).
    public func keyQueryProduct(head h: Int) -> [Double] {
        headProduct(key.value, query.value, rows: h * keySize..<((h + 1) * keySize))
    }

    /// P_h W_V[h] [D, D] of head h, in Double (SPEC §5.2).
    public func projectionValueProduct(head h: Int) -> [Double] {
        let d = projection.value.shape[0]
        let p = transpose(projection.value).doubles  // [H·d_v, D]: row j is column j of P
        let w = value.value.doubles, width = value.value.shape[1]
        var out = [Double](repeating: 0, count: d * width)
        for j in (h * valueSize)..<((h + 1) * valueSize) {
            for r in 0..<d { for c in 0..<width { out[r * width + c] += p[j * d + r] * w[j * width + c] } }
        }
        return out
    }

    /// Aᵀ B over the rows `rows` of two [·, m] matrices: [m, m].
    private func headProduct(_ a: Tensor, _ b: Tensor, rows: Range<Int>) -> [Double] {
        let m = a.shape[1]
        let ad = a.doubles, bd = b.doubles
        var out = [Double](repeating: 0, count: m * m)
        for j in rows { for r in 0..<m { for c in 0..<m { out[r * m + c] += ad[j * m + r] * bd[j * m + c] } } }
        return out
    }
}
