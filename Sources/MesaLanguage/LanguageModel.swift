import MesaNN
import MesaTensor

/// A byte-level language model (SPEC §7): token embedding [V, D] (a gather, not a one-hot
/// matmul), the blocks of a `Transformer` (layer 1 softmax with the sinusoidal positional
/// encoding on its queries and keys, the others softmax, linear or mesa), a final LayerNorm
/// and a read-out to V = 256 logits.
///
/// `config` is the run's model configuration: `dimension` is the vocabulary, `embedding`
/// true (embedding and read-out learned). The blocks are a Transformer of the same
/// configuration without embedding, fed the embedded tokens.
public final class LanguageModel: ParameterSet {
    public let config: ModelConfig
    public let dtype: DType
    /// The blocks (checkpoint names "layers.i.…").
    public let body: Transformer
    /// [V, D] ("embed.tokens").
    public let tokenEmbedding: Variable
    /// The LayerNorm before the read-out ("ln_f."), when `layerNorm` and `readoutNorm`.
    public let finalGain: Variable?, finalBias: Variable?
    /// [V, D] ("readout.W").
    public let readout: Variable

    public var vocabularySize: Int { config.dimension }

    public init(config: ModelConfig, seed: UInt64, dtype: DType = .float32) throws {
        try config.validate()
        guard config.embedding else {
            throw ModelError.invalidConfig("a language model learns its embedding: model.embedding must be true")
        }
        self.config = config
        self.dtype = dtype
        body = try Transformer(config: Self.bodyConfig(config), seed: seed, dtype: dtype)
        // Drawn from streams of their own (step 1 of parameterInit), apart from the blocks'.
        func normal(_ shape: [Int], index: Int) -> Variable {
            var stream = RandomStream(seed: seed, purpose: .parameterInit, step: 1, index: index)
            return Variable(Tensor.normal(shape: shape, std: config.initStd, dtype: dtype, stream: &stream), requiresGrad: true)
        }
        let (v, d) = (config.dimension, config.width)
        tokenEmbedding = normal([v, d], index: 0)
        readout = normal([v, d], index: 1)
        if config.layerNorm && config.readoutNorm {
            finalGain = Variable(Tensor(shape: [d], repeating: 1, dtype: dtype), requiresGrad: true)
            finalBias = config.biases ? Variable(Tensor(zeros: [d], dtype: dtype), requiresGrad: true) : nil
        } else {
            finalGain = nil
            finalBias = nil
        }
    }

    /// The blocks' configuration: the same model fed D-wide tokens, read out whole.
    public static func bodyConfig(_ c: ModelConfig) -> ModelConfig {
        var b = c
        b.embedding = false
        b.dimension = c.width
        return b
    }

    public var parameters: [NamedParameter] {
        [NamedParameter("embed.tokens", tokenEmbedding)] + body.parameters
            + (finalGain.map { [NamedParameter("ln_f.gain", $0, decays: false)] } ?? [])
            + (finalBias.map { [NamedParameter("ln_f.bias", $0, decays: false)] } ?? [])
            + [NamedParameter("readout.W", readout)]
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.variable.value.count } }

    /// Logits [B, T, V] of the next byte at every position of `ids` (B·T bytes, row-major).
    public func logits(_ ids: [Int32], batch: Int, length: Int) -> Variable {
        let x = embedTokens(tokenEmbedding, ids: ids, batch: batch, length: length)   // [B, T, D]
        var h = body(x)                                                                // [B, T, D]
        if let g = finalGain { h = layerNorm(h, gain: g, bias: finalBias, epsilon: config.layerNormEpsilon) }
        return linear(h, readout)                                                      // [B, T, V]
    }
}
