import MesaTensor

/// A trainable tensor with its checkpoint name and whether weight decay applies to it
/// (weight matrices: yes; LayerNorm gains and biases, mesa λ: no).
public struct NamedParameter {
    public let name: String
    public let variable: Variable
    public let decays: Bool

    public init(_ name: String, _ variable: Variable, decays: Bool = true) {
        self.name = name
        self.variable = variable
        self.decays = decays
    }
}

/// A model as its checkpoint sees it: named parameters in one dtype. Saving and loading are the
/// same for every model (`Transformer`, the language model), so they live here once.
public protocol ParameterSet: AnyObject {
    var parameters: [NamedParameter] { get }
    var dtype: DType { get }
}

extension ParameterSet {
    /// Parameter values by checkpoint name.
    public var stateTensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.variable.value) })
    }

    /// Loads parameter values (converted to this model's dtype). Every parameter must be
    /// present with its exact shape and finite values; nothing is changed when one is not.
    public func load(_ tensors: [String: Tensor]) throws {
        let params = parameters
        for p in params {
            guard let t = tensors[p.name] else { throw ModelError.checkpointMismatch("no tensor '\(p.name)'") }
            guard t.shape == p.variable.shape else {
                throw ModelError.checkpointMismatch("'\(p.name)' has shape \(t.shape), the model needs \(p.variable.shape)")
            }
            guard t.isFinite else { throw ModelError.checkpointMismatch("'\(p.name)' holds non-finite values") }
        }
        for p in params { p.variable.assign(tensors[p.name]!.converted(to: dtype)) }
    }
}

/// Draws initial parameter values. Parameter number i is drawn from its own stream
/// (seed, parameterInit, index i), so adding a layer does not change the others.
public struct ParameterInitializer {
    public let seed: UInt64
    public let dtype: DType
    private var next = 0

    public init(seed: UInt64, dtype: DType) {
        self.seed = seed
        self.dtype = dtype
    }

    /// A leaf with entries from N(0, std²).
    public mutating func normal(_ shape: [Int], std: Double) -> Variable {
        var stream = RandomStream(seed: seed, purpose: .parameterInit, index: next)
        next += 1
        return Variable(Tensor.normal(shape: shape, std: std, dtype: dtype, stream: &stream), requiresGrad: true)
    }

    /// A leaf filled with one value.
    public mutating func constant(_ shape: [Int], _ value: Double) -> Variable {
        next += 1
        return Variable(Tensor(shape: shape, repeating: value, dtype: dtype), requiresGrad: true)
    }
}

public enum ModelError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case checkpointMismatch(String)

    public var description: String {
        switch self {
        case let .invalidConfig(why): return "invalid model configuration: \(why)"
        case let .checkpointMismatch(why): return "checkpoint does not fit the model: \(why)"
        }
    }
}
