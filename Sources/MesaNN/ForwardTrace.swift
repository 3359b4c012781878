import MesaTensor

/// The intermediates of one forward pass that a researcher asked for, by name (SPEC §5:
/// probes, attention maps, distillation targets). The model's one forward fills it while
/// it runs; nothing is computed twice, and a forward without a trace records nothing.
///
/// Names (layer i from 0; shapes for a batch [B, T]):
/// - `embedding`: the residual stream after the input layer [B, T, D]
/// - `layers.i.attention_input`: what the attention sublayer reads (after its LayerNorm) [B, T, D]
/// - `layers.i.q`, `layers.i.k` [B, T, H·d_k] (after L2 normalization, when the model has it),
///   `layers.i.v` [B, T, H·d_v], `layers.i.extra` [B, T, H·e] (the core's extra inputs, e.g.
///   the delta rule's β logits)
/// - `layers.i.weights`: attention weights [B, H, T, T] (row t: query position) of kinds that
///   have them (linear, softmax, mesa: (Q̃ Kᵀ) ⊙ γ-decay)
/// - `layers.i.<vector>`: a core's traced vectors [B, T, H·d_k] (the mesa-layer's `q_tilde` = R_t q_t)
/// - `layers.i.attention_output`: the sublayer's output Δe [B, T, D]
/// - `layers.i.after_attention`, `layers.i.after_mlp`: the residual stream after each sublayer
/// - `layers.i.output`: the block's output (after the activation clip) [B, T, D]
/// - `output`: the predictions [B, T, n]
///
/// A pattern matches a name segment by segment; `*` matches any one segment
/// (`layers.*.q`, `layers.1.*`).
public final class ForwardTrace {
    public let patterns: [[Substring]]
    /// What was recorded, by name.
    public private(set) var values: [String: Tensor] = [:]

    public init(capturing patterns: [String]) {
        self.patterns = patterns.map { $0.split(separator: ".", omittingEmptySubsequences: false) }
    }

    public subscript(name: String) -> Tensor? { values[name] }

    public func wants(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return patterns.contains { p in
            p.count == parts.count && zip(p, parts).allSatisfy { $0 == "*" || $0 == $1 }
        }
    }

    /// Records `value()` under `name` when asked for.
    func record(_ name: String, _ value: @autoclosure () -> Tensor) {
        if wants(name) { values[name] = value() }
    }

    /// The trace of layer i, or nil when nothing of it is asked for.
    func layer(_ i: Int, names: [String]) -> LayerTrace? {
        let prefix = "layers.\(i)."
        return names.contains { wants(prefix + $0) } ? LayerTrace(trace: self, prefix: prefix) : nil
    }
}

/// What one attention sublayer contributes to a `ForwardTrace`.
public final class LayerTrace {
    let trace: ForwardTrace
    let prefix: String

    init(trace: ForwardTrace, prefix: String) {
        self.trace = trace
        self.prefix = prefix
    }

    func wants(_ name: String) -> Bool { trace.wants(prefix + name) }

    /// What the fused forward of a `core` layer must record beyond what its backward keeps.
    func record(for core: any AttentionCore.Type) -> AttentionLayerRecord {
        AttentionLayerRecord(weights: wants("weights"), vectors: core.tracedVectors.contains { wants($0) })
    }

    /// Cuts q, k, v, the extra inputs, the weights and the core's vectors out of what the
    /// forward kept.
    func collect(_ saved: AttentionLayerSaved, attention a: SelfAttention) {
        let hk = a.heads * a.keySize, hv = a.heads * a.valueSize, width = saved.qkv.shape[2]
        trace.record(prefix + "q", columns(saved.qkv, 0..<hk))
        trace.record(prefix + "k", columns(saved.qkv, hk..<(2 * hk)))
        trace.record(prefix + "v", columns(saved.qkv, (2 * hk)..<(2 * hk + hv)))
        if width > 2 * hk + hv { trace.record(prefix + "extra", columns(saved.qkv, (2 * hk + hv)..<width)) }
        if let w = saved.weights { trace.record(prefix + "weights", unpaddedAttentionWeights(w)) }
        if let vectors = saved.vectors {
            for (i, name) in type(of: a.core).tracedVectors.enumerated() {
                trace.record(prefix + name, columns(vectors, (i * hk)..<((i + 1) * hk)))
            }
        }
    }
}
