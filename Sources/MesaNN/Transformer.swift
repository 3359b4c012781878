import MesaTensor
import RealModule

public enum AttentionImplementation: String, Sendable {
    case fused, composed
}

/// LayerNorm's learned gain (and bias, when the model has biases).
public struct NormParameters {
    public let gain: Variable
    public let bias: Variable?
    /// ε of x̂ = (x − μ) / √(σ² + ε).
    public let epsilon: Double

    init(width: Int, bias: Bool, epsilon: Double, initializer: inout ParameterInitializer) {
        gain = initializer.constant([width], 1)
        self.bias = bias ? initializer.constant([width], 0) : nil
        self.epsilon = epsilon
    }

    func callAsFunction(_ x: Variable) -> Variable { layerNorm(x, gain: gain, bias: bias, epsilon: epsilon) }

    func parameters(prefix: String) -> [NamedParameter] {
        [NamedParameter(prefix + "gain", gain, decays: false)]
            + (bias.map { [NamedParameter(prefix + "bias", $0, decays: false)] } ?? [])
    }
}

/// A dense layer y = x Wᵀ (+ b): W [out, in].
public struct Dense {
    public let weight: Variable
    public let bias: Variable?

    init(_ inDim: Int, _ outDim: Int, bias: Bool, std: Double, initializer: inout ParameterInitializer) {
        weight = initializer.normal([outDim, inDim], std: std)
        self.bias = bias ? initializer.constant([outDim], 0) : nil
    }

    func callAsFunction(_ x: Variable) -> Variable {
        let y = linear(x, weight)
        return bias.map { addBias(y, $0) } ?? y
    }

    func parameters(prefix: String) -> [NamedParameter] {
        [NamedParameter(prefix + "W", weight)] + (bias.map { [NamedParameter(prefix + "b", $0, decays: false)] } ?? [])
    }
}

/// One block (SPEC §2): e ← e + Attn(LN(e)); e ← e + W₂ GELU(W₁ LN(e)); e ← clip(e).
public final class Block {
    public let attentionNorm: NormParameters?
    public let attention: SelfAttention
    public let mlpNorm: NormParameters?
    public let mlp: (up: Dense, down: Dense)?

    init(config c: ModelConfig, layer: Int, queryKeyWidth: Int, initializer: inout ParameterInitializer) {
        attentionNorm = c.layerNorm ? NormParameters(width: c.width, bias: c.biases, epsilon: c.layerNormEpsilon, initializer: &initializer) : nil
        attention = SelfAttention(spec: c.attentionSpec(layer: layer), width: c.width, queryKeyWidth: queryKeyWidth,
                                  keySize: c.keySize, valueSize: c.valueSize, initStd: c.initStd,
                                  initializer: &initializer)
        mlpNorm = c.mlp && c.layerNorm ? NormParameters(width: c.width, bias: c.biases, epsilon: c.layerNormEpsilon, initializer: &initializer) : nil
        mlp = c.mlp ? (Dense(c.width, c.mlpHidden, bias: c.biases, std: c.initStd, initializer: &initializer),
                       Dense(c.mlpHidden, c.width, bias: c.biases, std: c.initStd, initializer: &initializer)) : nil
    }

    func parameters(prefix: String) -> [NamedParameter] {
        (attentionNorm?.parameters(prefix: prefix + "ln1.") ?? [])
            + attention.parameters(prefix: prefix + "attn.")
            + (mlpNorm?.parameters(prefix: prefix + "ln2.") ?? [])
            + (mlp.map { $0.up.parameters(prefix: prefix + "mlp.1.") + $0.down.parameters(prefix: prefix + "mlp.2.") } ?? [])
    }
}

/// The autoregressive models of SPEC §2: an optional input embedding, a stack of blocks
/// with any mix of attention kinds, and a read-out of the prediction of s_{t+1}.
public final class Transformer: ParameterSet {
    public let config: ModelConfig
    public let dtype: DType
    public let embedding: Dense?         // n → D
    public let blocks: [Block]
    public let finalNorm: NormParameters?
    public let readout: Dense?           // D → n
    /// How attention and MLP sublayers run: fused tile kernels (default), or composed from
    /// separate whole-batch operations (the reference, and the benchmarks' baseline).
    public var attentionImplementation: AttentionImplementation = .fused

    /// A freshly initialized model: every weight matrix from N(0, initStd²) drawn from
    /// (seed, parameterInit, parameter index), LayerNorm gains 1 and biases 0.
    public init(config: ModelConfig, seed: UInt64, dtype: DType = .float32) throws {
        try config.validate()
        self.config = config
        self.dtype = dtype
        var initializer = ParameterInitializer(seed: seed, dtype: dtype)
        let c = config
        embedding = c.embedding ? Dense(c.dimension, c.width, bias: c.biases, std: c.initStd, initializer: &initializer) : nil
        blocks = c.layers.indices.map { i in
            Block(config: c, layer: i, queryKeyWidth: c.width + (i == 0 ? c.positionalEncoding : 0),
                  initializer: &initializer)
        }
        finalNorm = c.embedding && c.layerNorm && c.readoutNorm
            ? NormParameters(width: c.width, bias: c.biases, epsilon: c.layerNormEpsilon, initializer: &initializer) : nil
        readout = c.embedding ? Dense(c.width, c.dimension, bias: c.biases, std: c.initStd, initializer: &initializer) : nil
    }

    /// All trainable parameters, in a fixed order, with their checkpoint names.
    public var parameters: [NamedParameter] {
        var p = embedding?.parameters(prefix: "embed.") ?? []
        for (i, b) in blocks.enumerated() { p += b.parameters(prefix: "layers.\(i).") }
        p += finalNorm?.parameters(prefix: "ln_f.") ?? []
        p += readout?.parameters(prefix: "readout.") ?? []
        return p
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.variable.value.count } }

    /// Predictions [B, T, n] of s_{t+1} from input tokens [B, T, width or n]. `trace`
    /// receives the intermediates it asks for (see `ForwardTrace` for the names).
    public func callAsFunction(_ tokens: Tensor, trace: ForwardTrace? = nil) -> Variable {
        self(Variable(tokens.converted(to: dtype)), trace: trace)
    }

    /// The same forward from a differentiable input (learned tokens: prompt and prefix
    /// tuning back-propagate into them).
    public func callAsFunction(_ input: Variable, trace: ForwardTrace? = nil) -> Variable {
        let c = config, tokens = input.value
        precondition(tokens.shape.count == 3, "model input must be [B, T, width], got \(tokens.shape)")
        let expected = c.embedding ? c.dimension : c.width
        precondition(tokens.shape[2] == expected, "model expects tokens of width \(expected), got \(tokens.shape)")
        precondition(tokens.dtype == dtype, "model input must be \(dtype), got \(tokens.dtype)")
        var x = embedding.map { $0(input) } ?? input                    // [B, T, D]
        trace?.record("embedding", x.value)
        let pe = c.positionalEncoding > 0
            ? Variable(sinusoidalEncoding(batch: tokens.shape[0], length: tokens.shape[1], width: c.positionalEncoding))
            : nil
        for (i, block) in blocks.enumerated() {
            let h = block.attentionNorm.map { $0(x) } ?? x
            let qk = (i == 0 && pe != nil) ? concatColumns([h, pe!]) : h  // [B, T, D (+PE)]
            let layer = trace?.layer(i, names: ["q", "k", "v", "extra", "weights"] + type(of: block.attention.core).tracedVectors)
            let attended: Variable                                         // [B, T, D]
            switch attentionImplementation {
            case .fused: attended = block.attention(h, queryKeyInput: qk, trace: layer)
            case .composed: attended = block.attention.composed(h, queryKeyInput: qk)
            }
            // The block's last residual add and the clip are one operation when nothing records the sum between them.
            let fusedClip = trace == nil ? c.activationClip : nil
            if block.mlp == nil, let clipValue = fusedClip { x = addClipped(x, attended, clipValue) } else { x = x + attended }
            if let trace {
                trace.record("layers.\(i).attention_input", h.value)
                trace.record("layers.\(i).attention_output", attended.value)
                trace.record("layers.\(i).after_attention", x.value)
            }
            if let m = block.mlp {
                let h2 = block.mlpNorm.map { $0(x) } ?? x
                let out = attentionImplementation == .fused && m.up.bias == nil && m.down.bias == nil
                    ? mlpSublayer(h2, up: m.up.weight, down: m.down.weight) : m.down(gelu(m.up(h2)))
                if let clipValue = fusedClip { x = addClipped(x, out, clipValue) } else { x = x + out }
                trace?.record("layers.\(i).after_mlp", x.value)
            }
            if let clipValue = c.activationClip, fusedClip == nil { x = clip(x, clipValue) }
            trace?.record("layers.\(i).output", x.value)
        }
        let output: Variable
        if let r = readout {
            let h = finalNorm.map { $0(x) } ?? x
            output = r(h)                                                 // [B, T, n]
        } else {
            output = columns(x, 0..<c.dimension)                          // [B, T, n]
        }
        trace?.record("output", output.value)
        return output
    }

    /// Every name a `ForwardTrace` can record for this model.
    public var traceableNames: [String] {
        var names = ["embedding"]
        for (i, block) in blocks.enumerated() {
            let a = block.attention, core = type(of: a.core)
            names += ["attention_input", "q", "k", "v"].map { "layers.\(i).\($0)" }
            if core.extraProjection != nil { names.append("layers.\(i).extra") }
            if core.hasAttentionWeights { names.append("layers.\(i).weights") }
            names += core.tracedVectors.map { "layers.\(i).\($0)" }
            names += ["attention_output", "after_attention"].map { "layers.\(i).\($0)" }
            if block.mlp != nil { names.append("layers.\(i).after_mlp") }
            names.append("layers.\(i).output")
        }
        return names + ["output"]
    }

    /// PE[t, 2i] = sin(t / 10000^{2i/w}), PE[t, 2i+1] = cos(t / 10000^{2i/w}), tiled over
    /// the batch: [B, T, w].
    public func sinusoidalEncoding(batch: Int, length: Int, width: Int) -> Tensor {
        // The [T, width] table once (sin and cos once per (t, i), converted to the model's dtype
        // once), then its bytes copied for every sequence: the same values as writing every
        // sequence's rows from Double (a 1.6% serial stretch of full-mesa's 1-step run, with a
        // fresh [B, T, width] Double array per forward; BENCHMARKS.md, stop 10).
        var table = [Double](repeating: 0, count: length * width)
        for t in 0..<length {
            for i in 0..<(width / 2) {
                let angle = Double(t) / Double.pow(10000, Double(2 * i) / Double(width))
                table[t * width + 2 * i] = Double.sin(angle)
                table[t * width + 2 * i + 1] = Double.cos(angle)
            }
        }
        let rows = Tensor(shape: [length, width], table, dtype: dtype)
        func tiled<S: TensorScalar>(_: S.Type) -> Tensor {
            rows.withUnsafeBufferPointer(as: S.self) { row in
                Tensor(shape: [batch, length, width], of: S.self) { out in
                    for b in 0..<batch { (out.baseAddress! + b * row.count).update(from: row.baseAddress!, count: row.count) }
                }
            }
        }
        return dtype == .float32 ? tiled(Float.self) : tiled(Double.self)
    }

    /// The encoding as first written: every (sequence, position, i) from the formula in Double,
    /// converted at the end (the reference `sinusoidalEncoding` is tested against).
    public func referenceSinusoidalEncoding(batch: Int, length: Int, width: Int) -> Tensor {
        var pe = [Double](repeating: 0, count: batch * length * width)
        for b in 0..<batch {
            for t in 0..<length {
                for i in 0..<(width / 2) {
                    let angle = Double(t) / Double.pow(10000, Double(2 * i) / Double(width))
                    pe[(b * length + t) * width + 2 * i] = Double.sin(angle)
                    pe[(b * length + t) * width + 2 * i + 1] = Double.cos(angle)
                }
            }
        }
        return Tensor(shape: [batch, length, width], pe, dtype: dtype)
    }
}
