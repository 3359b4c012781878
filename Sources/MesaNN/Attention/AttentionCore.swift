import MesaTensor

// What distinguishes one kind of attention layer from another (SPEC §2) is only its
// "core": the map from one head's queries, keys and values of one sequence to that head's
// outputs. Everything around it — the projections, the optional L2 normalization of
// queries and keys, the output projection, the tiling over the batch, the threads and the
// weight-gradient reductions — is shared (AttentionLayerKernel.swift for the fused
// sublayer, CausalAttention.swift for the whole-batch operation).
//
// A kind is one file: a type conforming to `AttentionCore` with its per-head parameters,
// its scratch, a forward and a backward over one head's view, and a plain Double reference
// that reads like the math; plus one line in `AttentionKinds.registered`. Every
// registered kind is held to its reference and to finite differences by the generic tests
// in Tests/MesaNNTests/AttentionCoreTests.swift, and becomes selectable in every preset with
// `--set model.layers='["…"]'`.
//
// Speed: the shared drivers are generic over the core type. They are reached through the
// protocol requirements `layerForward`, `layerBackward`, `batchForward` and
// `batchBackward`, whose default implementations the compiler specializes for each
// conforming type, so a core's inner loops run with its concrete type and scalar known
// (one dynamic call per layer, none per head).

/// One head of one sequence: row pointers and row strides into a buffer of queries, keys,
/// values and the core's extra per-token inputs.
public struct HeadView<S: TensorScalar> {
    public let length: Int, keySize: Int, valueSize: Int
    public let q: UnsafeMutablePointer<S>, k: UnsafeMutablePointer<S>, qkStride: Int
    public let v: UnsafeMutablePointer<S>, vStride: Int
    /// The core's extra inputs of this head (`extraProjection.widthPerHead` per row, row
    /// stride `extraStride`). Points at v when the core has none; then unused.
    public let extra: UnsafeMutablePointer<S>, extraStride: Int

    @inline(__always)
    public init(length: Int, keySize: Int, valueSize: Int, q: UnsafeMutablePointer<S>, k: UnsafeMutablePointer<S>,
                qkStride: Int, v: UnsafeMutablePointer<S>, vStride: Int, extra: UnsafeMutablePointer<S>? = nil,
                extraStride: Int = 0) {
        self.length = length
        self.keySize = keySize
        self.valueSize = valueSize
        self.q = q
        self.k = k
        self.qkStride = qkStride
        self.v = v
        self.vStride = vStride
        self.extra = extra ?? v
        self.extraStride = extraStride
    }
}

/// Optional outputs of a core's forward, for traces and for its own backward.
public struct CoreRecord<S: TensorScalar> {
    /// T×tp attention weights (row t: query position; zero beyond the diagonal), for cores
    /// whose output is Σ_{t'≤t} A_{t,t'} v_{t'} (`hasAttentionWeights`).
    public var weights: UnsafeMutablePointer<S>?
    /// The core's traced per-position vectors (`tracedVectors`, each of width d_k): vector i
    /// of position t at `vectors + t·vectorRowStride + i·vectorSpacing`.
    public var vectors: UnsafeMutablePointer<S>?
    public var vectorRowStride: Int
    public var vectorSpacing: Int

    public init(weights: UnsafeMutablePointer<S>? = nil, vectors: UnsafeMutablePointer<S>? = nil,
                vectorRowStride: Int = 0, vectorSpacing: Int = 0) {
        self.weights = weights
        self.vectors = vectors
        self.vectorRowStride = vectorRowStride
        self.vectorSpacing = vectorSpacing
    }

    public static var none: CoreRecord<S> { CoreRecord() }
}

/// A learned scalar per head (the mesa-layer's λ): checkpoint name, initial value, and
/// whether weight decay applies.
public struct HeadParameter: Sendable, Equatable {
    public let name: String
    public let initialValue: Double
    public let decays: Bool
    /// Values the parameter must keep during training (checked after every update), with
    /// the reason shown when it does not.
    public let valid: @Sendable (Double) -> Bool
    public let requirement: String

    public init(name: String, initialValue: Double, decays: Bool = false, requirement: String = "finite",
                valid: @escaping @Sendable (Double) -> Bool = { $0.isFinite }) {
        self.name = name
        self.initialValue = initialValue
        self.decays = decays
        self.requirement = requirement
        self.valid = valid
    }

    public static func == (a: HeadParameter, b: HeadParameter) -> Bool {
        a.name == b.name && a.initialValue == b.initialValue && a.decays == b.decays
    }
}

/// Extra per-token inputs of a core, projected from the residual stream like the values
/// (the delta rule's β logits): a weight [H·width, D] with its checkpoint name.
public struct ExtraProjection: Sendable, Equatable {
    public let name: String
    public let widthPerHead: Int
    public init(name: String, widthPerHead: Int) {
        self.name = name
        self.widthPerHead = widthPerHead
    }
}

/// One head's inputs in Double, rows by position, for the plain references.
public struct HeadSequence {
    public var q: [[Double]], k: [[Double]], v: [[Double]]
    /// The core's extra inputs (empty rows when it has none).
    public var extra: [[Double]]
    public var length: Int { q.count }
    public init(q: [[Double]], k: [[Double]], v: [[Double]], extra: [[Double]]) {
        self.q = q
        self.k = k
        self.v = v
        self.extra = extra
    }
}

/// A causal attention core (SPEC §2). See the top of this file.
public protocol AttentionCore: Sendable {
    /// The name in configurations (`model.layers`).
    static var name: String { get }
    /// One line for help texts.
    static var summary: String { get }
    /// Per-head learned scalars (default: none).
    static var headParameters: [HeadParameter] { get }
    /// Extra per-token projections the core reads (default: none).
    static var extraProjection: ExtraProjection? { get }
    /// Whether the model option `normalizeQueryKey` applies to this kind (default: yes).
    static var acceptsQueryKeyNormalization: Bool { get }
    /// Whether the forward can write T×T attention weights (default: no).
    static var hasAttentionWeights: Bool { get }
    /// Whether the fused layer keeps those weights from the forward for the backward
    /// (memory for speed; default: no).
    static var keepsWeightsForBackward: Bool { get }
    /// Whether this call's fused layer keeps the weights for the backward: a core with a
    /// quadratic and a chunked form keeps them only in the quadratic one (default:
    /// `keepsWeightsForBackward`).
    func keepsWeights(length: Int, keySize: Int, valueSize: Int) -> Bool
    /// Names of per-position vectors of width d_k the forward can record (the mesa-layer's
    /// q̃ = R_t q_t; default: none).
    static var tracedVectors: [String] { get }

    init(_ spec: AttentionSpec)

    /// Elements of scratch one worker needs for heads of these sizes.
    func scratchCount(length: Int, keySize: Int, valueSize: Int) -> Int
    /// Called once per worker on fresh scratch (default: nothing).
    func prepare<S: TensorScalar>(scratch: UnsafeMutablePointer<S>, length: Int, keySize: Int, valueSize: Int)
    /// out_t (rows with stride `outStride`) for one head; `parameters` are this head's
    /// `headParameters` in order.
    func forward<S: TensorScalar>(_ head: HeadView<S>, parameters: UnsafePointer<S>, out: UnsafeMutablePointer<S>,
                                  outStride: Int, scratch: UnsafeMutablePointer<S>, record: CoreRecord<S>)
    /// From dout (rows with stride `doutStride`) writes dq, dk, dv (and d extra) into the
    /// views of `grad` and adds ∂L/∂(head parameters) to `dParameters`. `weights` are the
    /// forward's recorded weights when `keepsWeightsForBackward`.
    func backward<S: TensorScalar>(_ head: HeadView<S>, parameters: UnsafePointer<S>, dOut: UnsafePointer<S>,
                                   doutStride: Int, grad: HeadView<S>, dParameters: UnsafeMutablePointer<S>,
                                   scratch: UnsafeMutablePointer<S>, weights: UnsafePointer<S>?)
    /// The plain reference in Double: the outputs of one head, written like the math.
    func reference(_ head: HeadSequence, parameters: [Double]) -> [[Double]]

    // Entry points of the shared drivers (defaults in AttentionLayerKernel.swift and
    // CausalAttention.swift; not meant to be implemented by a core).
    func layerForward(_ shape: AttentionLayerShape, _ inputs: AttentionLayerInputs, spec: AttentionSpec,
                      record: AttentionLayerRecord?) -> (y: Tensor, saved: AttentionLayerSaved)
    func layerBackward(_ shape: AttentionLayerShape, _ inputs: AttentionLayerInputs, spec: AttentionSpec, dy: Tensor,
                       saved: AttentionLayerSaved, weightGradients: Bool) -> AttentionLayerGradients
    func batchForward(_ inputs: CausalAttentionInputs, record: Bool) -> (out: Tensor, weights: Tensor?)
    func batchBackward(_ inputs: CausalAttentionInputs, dOut: Tensor, weights: Tensor?) -> CausalAttentionGradients
}

extension AttentionCore {
    public static var headParameters: [HeadParameter] { [] }
    public static var extraProjection: ExtraProjection? { nil }
    public static var acceptsQueryKeyNormalization: Bool { true }
    public static var hasAttentionWeights: Bool { false }
    public static var keepsWeightsForBackward: Bool { false }
    public func keepsWeights(length: Int, keySize: Int, valueSize: Int) -> Bool { Self.keepsWeightsForBackward }
    public static var tracedVectors: [String] { [] }
    public func prepare<S: TensorScalar>(scratch: UnsafeMutablePointer<S>, length: Int, keySize: Int, valueSize: Int) {}
}

/// Carves aligned panels out of a core's scratch, in a fixed order.
public struct PanelCarver<S: TensorScalar> {
    private var next: UnsafeMutablePointer<S>
    @inline(__always) public init(_ base: UnsafeMutablePointer<S>) { next = base }
    /// The next panel of `count` elements (64-byte aligned when the base is).
    @inline(__always) public mutating func panel(_ count: Int) -> UnsafeMutablePointer<S> {
        let p = next
        next += (count + 7) & ~7
        return p
    }
}

/// The registered attention kinds: what `model.layers` may name.
public enum AttentionKinds {
    /// One line per kind.
    public static let registered: [any AttentionCore.Type] = [
        LinearCore.self, SoftmaxCore.self, MesaCore.self, DeltaRuleCore.self,
    ]

    public static var names: [String] { registered.map { $0.name } }

    public static func core(named name: String) -> (any AttentionCore.Type)? {
        registered.first { $0.name == name }
    }
}

/// The attention kind of a layer, by its registered name ("linear", "softmax", "mesa", …).
public struct LayerKind: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    /// Any string; `validate()` and decoding check that it names a registered kind.
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let linear = LayerKind(rawValue: LinearCore.name)
    public static let softmax = LayerKind(rawValue: SoftmaxCore.name)
    public static let mesa = LayerKind(rawValue: MesaCore.name)
    public static let delta = LayerKind(rawValue: DeltaRuleCore.name)

    public var coreType: (any AttentionCore.Type)? { AttentionKinds.core(named: rawValue) }
    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard AttentionKinds.core(named: name) != nil else {
            throw ModelError.invalidConfig("unknown layer kind '\(name)'; known: \(AttentionKinds.names.joined(separator: ", "))")
        }
        rawValue = name
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
