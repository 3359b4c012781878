import MesaTensor

/// Multi-head self-attention without biases, SPEC §2:
/// q = W_Q e, k = W_K e, v = W_V e, Δe_t = Σ_h P_h core_h(q, k, v)_t, where the core is the
/// layer kind's `AttentionCore` (linear: Σ_{t'≤t} v_{t'} k_{t'}ᵀ q_t; softmax; the
/// mesa-layer Φ̂_{h,t} q_t with a learned λ_h per head; …). Weights are stored [out, in]:
/// W_Q, W_K [H·d_k, D_qk], W_V [H·d_v, D], P [D, H·d_v], head h in rows (columns of P)
/// h·d..<(h+1)·d; a core's extra projection [H·e, D] and head parameters [H] follow.
public final class SelfAttention {
    public let spec: AttentionSpec
    public var kind: LayerKind { spec.kind }
    public var heads: Int { spec.heads }
    public let keySize: Int, valueSize: Int
    public let query: Variable, key: Variable, value: Variable, projection: Variable
    /// The core's extra projection (the delta rule's W_β), if it has one.
    public let extraProjection: Variable?
    /// The core's per-head parameters, in the order of its `headParameters` ([H] each).
    public let headParameters: [Variable]
    let core: any AttentionCore

    public init(spec: AttentionSpec, width: Int, queryKeyWidth: Int, keySize: Int, valueSize: Int,
                initStd: Double, initializer: inout ParameterInitializer) {
        self.spec = spec
        self.keySize = keySize
        self.valueSize = valueSize
        core = spec.core
        let heads = spec.heads, coreType = type(of: core)
        query = initializer.normal([heads * keySize, queryKeyWidth], std: initStd)
        key = initializer.normal([heads * keySize, queryKeyWidth], std: initStd)
        value = initializer.normal([heads * valueSize, width], std: initStd)
        projection = initializer.normal([width, heads * valueSize], std: initStd)
        extraProjection = coreType.extraProjection.map { initializer.normal([heads * $0.widthPerHead, width], std: initStd) }
        headParameters = coreType.headParameters.map { initializer.constant([heads], $0.initialValue) }
    }

    /// The head parameter called `name` (the mesa-layer's "lambda"), if this kind has it.
    public func headParameter(_ name: String) -> Variable? {
        type(of: core).headParameters.firstIndex { $0.name == name }.map { headParameters[$0] }
    }

    /// The mesa-layer's regularization λ [H].
    public var lambda: Variable? { headParameter("lambda") }

    /// The per-head parameters with their descriptions.
    public var describedHeadParameters: [(HeadParameter, Variable)] {
        Array(zip(type(of: core).headParameters, headParameters))
    }

    public func parameters(prefix: String) -> [NamedParameter] {
        let coreType = type(of: core)
        return [NamedParameter(prefix + "W_Q", query), NamedParameter(prefix + "W_K", key),
                NamedParameter(prefix + "W_V", value), NamedParameter(prefix + "P", projection)]
            + zip(coreType.extraProjection.map { [$0.name] } ?? [], extraProjection.map { [$0] } ?? []).map {
                NamedParameter(prefix + $0, $1)
            }
            + zip(coreType.headParameters, headParameters).map { NamedParameter(prefix + $0.name, $1, decays: $0.decays) }
    }

    /// Δe [B, T, D] for the residual stream x [B, T, D]; queries and keys read `queryKeyInput`
    /// (x itself, or x with the positional encoding appended). Runs the fused kernel of
    /// AttentionLayerKernel.swift; `trace` receives the layer's intermediates it asks for.
    public func callAsFunction(_ x: Variable, queryKeyInput: Variable, trace: LayerTrace? = nil) -> Variable {
        attentionLayer(spec, x, queryKeyInput: queryKeyInput, wq: query, wk: key, wv: value, p: projection,
                       extraWeight: extraProjection, headParameters: headParameters, record: trace?.record(for: type(of: core)),
                       saved: trace.map { t in { t.collect($0, attention: self) } })
    }

    /// The same function composed from separate differentiable operations over whole-batch
    /// tensors (projections, normalization, attention, output projection): the reference the
    /// fused kernel is tested against.
    public func composed(_ x: Variable, queryKeyInput: Variable) -> Variable {
        let (q, k, v) = projections(x, queryKeyInput: queryKeyInput)
        let o = causalAttention(spec, q, k, v, extra: extraProjection.map { linear(x, $0) },
                                headParameters: headParameters)                      // [B, T, H·d_v]
        return linear(o, projection)                                                 // [B, T, D]
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
