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
/// q = W_Q e, k = W_K e, v = W_V e, Δe_t = Σ_h P_h Σ_{t'≤t} v_{t'} α(k_{t'}ᵀ q_t).
/// Weights are stored [out, in]: W_Q, W_K [H·d_k, D_qk], W_V [H·d_v, D], P [D, H·d_v],
/// head h in rows (columns of P) h·d..<(h+1)·d.
public final class SelfAttention {
    public let kind: LayerKind
    public let heads: Int, keySize: Int, valueSize: Int
    public let query: Variable, key: Variable, value: Variable, projection: Variable

    public init(kind: LayerKind, width: Int, queryKeyWidth: Int, heads: Int, keySize: Int, valueSize: Int,
                initStd: Double, initializer: inout ParameterInitializer) {
        self.kind = kind
        self.heads = heads
        self.keySize = keySize
        self.valueSize = valueSize
        query = initializer.normal([heads * keySize, queryKeyWidth], std: initStd)
        key = initializer.normal([heads * keySize, queryKeyWidth], std: initStd)
        value = initializer.normal([heads * valueSize, width], std: initStd)
        projection = initializer.normal([width, heads * valueSize], std: initStd)
    }

    public func parameters(prefix: String) -> [NamedParameter] {
        [NamedParameter(prefix + "W_Q", query), NamedParameter(prefix + "W_K", key),
         NamedParameter(prefix + "W_V", value), NamedParameter(prefix + "P", projection)]
    }

    /// Δe [B, T, D] for the residual stream x [B, T, D]; queries and keys read `queryKeyInput`
    /// (x itself, or x with the positional encoding appended). Runs the fused kernel of
    /// AttentionLayerKernel.swift. The attention weights of a softmax layer go to `trace`
    /// when given.
    public func callAsFunction(_ x: Variable, queryKeyInput: Variable, trace: ((Tensor) -> Void)? = nil) -> Variable {
        if let trace, kind == .softmax {
            let q = linear(queryKeyInput.value, query.value), k = linear(queryKeyInput.value, key.value)
            let v = linear(x.value, value.value)
            trace(unpaddedAttentionWeights(softmaxAttentionForward(q: q, k: k, v: v, heads: heads).weights))
        }
        return attentionLayer(kind: kind, x, queryKeyInput: queryKeyInput, wq: query, wk: key, wv: value,
                              p: projection, heads: heads)
    }

    /// The same function composed from separate differentiable operations (projections,
    /// attention over whole-batch tensors, output projection): the reference the fused
    /// kernel is tested against.
    public func composed(_ x: Variable, queryKeyInput: Variable) -> Variable {
        let q = linear(queryKeyInput, query)  // [B, T, H·d_k]
        let k = linear(queryKeyInput, key)    // [B, T, H·d_k]
        let v = linear(x, value)              // [B, T, H·d_v]
        let o: Variable                       // [B, T, H·d_v]
        switch kind {
        case .linear: o = linearAttention(q, k, v, heads: heads)
        case .softmax: o = softmaxAttention(q, k, v, heads: heads)
        case .mesa: fatalError("the mesa-layer is not built yet")
        }
        return linear(o, projection)          // [B, T, D]
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
