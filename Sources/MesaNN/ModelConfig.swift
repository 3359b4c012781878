import MesaTensor

/// Everything that defines a model's architecture (SPEC §2). Serialized into every run's
/// config.json.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// Observed dimension n: the model predicts s_{t+1} ∈ Rⁿ.
    public var dimension: Int
    /// Residual-stream width D. Without `embedding` the input tokens have this width and
    /// the prediction is read from the first n coordinates of the output.
    public var width: Int
    /// Learned dense layers n → D (input) and D → n (read-out), for unconstructed tokens.
    public var embedding: Bool
    /// Attention kind of each layer, first to last.
    public var layers: [LayerKind]
    public var heads: Int
    public var keySize: Int
    public var valueSize: Int
    /// Clip the residual stream to [−c, c] after every block.
    public var activationClip: Double?
    /// Pre-LayerNorm before attention and MLP (and before the read-out when `readoutNorm`).
    public var layerNorm: Bool
    /// With `layerNorm` and `embedding`: a LayerNorm between the last block and the read-out.
    /// The reference code has none (false); mesa's first models had one (the default of
    /// configurations written before this field, so they load as they trained).
    public var readoutNorm: Bool
    /// ε of every LayerNorm: 1e-6 in the reference code; 1e-5 in mesa's first models (the
    /// default of configurations written before this field).
    public var layerNormEpsilon: Double
    /// GELU MLP after each attention, hidden width `mlpHidden`.
    public var mlp: Bool
    public var mlpHidden: Int
    /// Width of the sinusoidal positional encoding appended to the first layer's
    /// query/key input (0: none).
    public var positionalEncoding: Int
    /// Standard deviation of the N(0, σ²) initialization of every weight matrix.
    public var initStd: Double
    /// The mesa-layers' forget factor γ ∈ (0, 1] (1: none).
    public var mesaForget: Double
    /// L2-normalize each head's queries and keys in linear and mesa layers.
    public var normalizeQueryKey: Bool
    /// Biases in LayerNorm, the MLP and the dense input/read-out layers (attention never has any).
    public var biases: Bool

    public init(dimension: Int, width: Int, embedding: Bool, layers: [LayerKind], heads: Int, keySize: Int,
                valueSize: Int? = nil, activationClip: Double? = nil, layerNorm: Bool = false,
                readoutNorm: Bool = true, layerNormEpsilon: Double = MesaNN.layerNormEpsilon, mlp: Bool = false,
                mlpHidden: Int? = nil, positionalEncoding: Int = 0, initStd: Double, mesaForget: Double = 1,
                normalizeQueryKey: Bool = false, biases: Bool = false) {
        self.dimension = dimension
        self.width = width
        self.embedding = embedding
        self.layers = layers
        self.heads = heads
        self.keySize = keySize
        self.valueSize = valueSize ?? keySize
        self.activationClip = activationClip
        self.layerNorm = layerNorm
        self.readoutNorm = readoutNorm
        self.layerNormEpsilon = layerNormEpsilon
        self.mlp = mlp
        self.mlpHidden = mlpHidden ?? 4 * width
        self.positionalEncoding = positionalEncoding
        self.initStd = initStd
        self.mesaForget = mesaForget
        self.normalizeQueryKey = normalizeQueryKey
        self.biases = biases
    }

    private enum CodingKeys: String, CodingKey {
        case dimension, width, embedding, layers, heads, keySize, valueSize, activationClip, layerNorm, readoutNorm
        case layerNormEpsilon, mlp, mlpHidden
        case positionalEncoding, initStd, mesaForget, normalizeQueryKey, biases
    }

    /// Decodes a configuration; fields added after a run was written take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dimension = try c.decode(Int.self, forKey: .dimension)
        width = try c.decode(Int.self, forKey: .width)
        embedding = try c.decode(Bool.self, forKey: .embedding)
        do {
            layers = try c.decode([LayerKind].self, forKey: .layers)
        } catch {
            throw ModelError.invalidConfig("layers must be a list of \(AttentionKinds.names.joined(separator: ", "))")
        }
        heads = try c.decode(Int.self, forKey: .heads)
        keySize = try c.decode(Int.self, forKey: .keySize)
        valueSize = try c.decode(Int.self, forKey: .valueSize)
        activationClip = try c.decodeIfPresent(Double.self, forKey: .activationClip)
        layerNorm = try c.decode(Bool.self, forKey: .layerNorm)
        readoutNorm = try c.decodeIfPresent(Bool.self, forKey: .readoutNorm) ?? true
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? MesaNN.layerNormEpsilon
        mlp = try c.decode(Bool.self, forKey: .mlp)
        mlpHidden = try c.decode(Int.self, forKey: .mlpHidden)
        positionalEncoding = try c.decode(Int.self, forKey: .positionalEncoding)
        initStd = try c.decode(Double.self, forKey: .initStd)
        mesaForget = try c.decodeIfPresent(Double.self, forKey: .mesaForget) ?? 1
        normalizeQueryKey = try c.decodeIfPresent(Bool.self, forKey: .normalizeQueryKey) ?? false
        biases = try c.decodeIfPresent(Bool.self, forKey: .biases) ?? false
    }

    /// The attention of layer `i`.
    public func attentionSpec(layer i: Int) -> AttentionSpec {
        AttentionSpec(kind: layers[i], heads: heads, forget: mesaForget,
                      normalizeQueryKey: normalizeQueryKey && (layers[i].coreType?.acceptsQueryKeyNormalization ?? false))
    }

    /// Checks that the dimensions fit together; the message names the field to fix.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw ModelError.invalidConfig(s) }
        if dimension <= 0 { try fail("dimension must be positive, got \(dimension)") }
        if width <= 0 { try fail("width must be positive, got \(width)") }
        if layers.isEmpty { try fail("a model needs at least one layer") }
        for (i, kind) in layers.enumerated() where kind.coreType == nil {
            try fail("layer \(i + 1): unknown kind '\(kind)'; known: \(AttentionKinds.names.joined(separator: ", "))")
        }
        if heads <= 0 || keySize <= 0 || valueSize <= 0 {
            try fail("heads (\(heads)), keySize (\(keySize)) and valueSize (\(valueSize)) must be positive")
        }
        if !embedding && width < dimension {
            try fail("without embedding the prediction is read from the first \(dimension) of \(width) coordinates")
        }
        if let c = activationClip, !(c > 0 && c.isFinite) { try fail("activationClip must be positive, got \(c)") }
        if !(layerNormEpsilon > 0 && layerNormEpsilon.isFinite) {
            try fail("layerNormEpsilon must be positive, got \(layerNormEpsilon)")
        }
        if mlp && mlpHidden <= 0 { try fail("mlpHidden must be positive, got \(mlpHidden)") }
        if positionalEncoding < 0 || positionalEncoding % 2 != 0 {
            try fail("positionalEncoding must be an even width ≥ 0, got \(positionalEncoding)")
        }
        if !(initStd >= 0 && initStd.isFinite) { try fail("initStd must be ≥ 0, got \(initStd)") }
        if !(mesaForget > 0 && mesaForget <= 1) { try fail("mesaForget must lie in (0, 1], got \(mesaForget)") }
    }
}
