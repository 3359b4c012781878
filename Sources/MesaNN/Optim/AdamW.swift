import MesaTensor

/// How gradients are clipped before the update (SPEC §3). In JSON:
/// `{"kind": "elementwise", "value": 1}`, `{"kind": "globalNorm", "value": 1}`, `{"kind": "none"}`.
public enum GradientClipping: Codable, Equatable, Sendable {
    case none
    /// Each gradient element to [−c, c] (the reference code's default).
    case elementwise(Double)
    /// The whole gradient rescaled to norm ≤ c when larger.
    case globalNorm(Double)

    private enum CodingKeys: String, CodingKey { case kind, value }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decode(String.self, forKey: .kind) {
        case "none": self = .none
        case "elementwise": self = .elementwise(try c.decode(Double.self, forKey: .value))
        case "globalNorm": self = .globalNorm(try c.decode(Double.self, forKey: .value))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                debugDescription: "unknown clipping '\(other)' (none, elementwise, globalNorm)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .none: try c.encode("none", forKey: .kind)
        case let .elementwise(v): try c.encode("elementwise", forKey: .kind); try c.encode(v, forKey: .value)
        case let .globalNorm(v): try c.encode("globalNorm", forKey: .kind); try c.encode(v, forKey: .value)
        }
    }
}

/// AdamW (Loshchilov & Hutter) as optax implements it:
/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr·(m̂/(√v̂ + ε) + wd·p),
/// with bias-corrected m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ); weight decay only where the
/// parameter `decays`.
public final class AdamW {
    public struct Settings: Codable, Equatable, Sendable {
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
        public var weightDecay: Double
        public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.05) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    public let settings: Settings
    public let parameters: [NamedParameter]
    /// First and second moments, one per parameter.
    public private(set) var m: [Tensor]
    public private(set) var v: [Tensor]
    /// Number of updates applied so far.
    public private(set) var step = 0

    public init(parameters: [NamedParameter], settings: Settings = Settings()) {
        self.settings = settings
        self.parameters = parameters
        m = parameters.map { Tensor(zeros: $0.variable.shape, dtype: $0.variable.dtype) }
        v = m
    }

    /// Global L2 norm of the current gradients.
    public func gradientNorm() -> Double {
        parameters.reduce(0) { $0 + ($1.variable.grad?.sumOfSquares() ?? 0) }.squareRoot()
    }

    /// Clips the gradients, applies one update at learning rate `lr`, and clears the
    /// gradients. Returns the global gradient norm before clipping.
    @discardableResult
    public func update(learningRate lr: Double, clipping: GradientClipping) -> Double {
        let norm = gradientNorm()
        var scale = 1.0, elementClip = Double.infinity
        switch clipping {
        case .none: break
        case let .elementwise(c): elementClip = c
        case let .globalNorm(c): if norm > c { scale = c / norm }
        }
        step += 1
        let s = settings
        let c1 = 1 - Double.pow(s.beta1, Double(step)), c2 = 1 - Double.pow(s.beta2, Double(step))
        for (i, p) in parameters.enumerated() {
            guard let g = p.variable.grad else { continue }
            let wd = p.decays ? s.weightDecay : 0
            func run<S: TensorScalar>(_: S.Type) {
                g.withUnsafeBufferPointer(as: S.self) { gp in
                m[i].withUnsafeMutableBufferPointer(as: S.self) { mp in
                v[i].withUnsafeMutableBufferPointer(as: S.self) { vp in
                p.variable.update { value in
                    value.withUnsafeMutableBufferPointer(as: S.self) { pp in
                        let b1 = S(s.beta1), b2 = S(s.beta2), eps = S(s.epsilon), rate = S(lr)
                        let ic1 = S(1 / c1), ic2 = S(1 / c2), decay = S(wd), sc = S(scale), ec = S(elementClip)
                        for j in 0..<pp.count {
                            let gj = min(max(gp[j] * sc, -ec), ec)
                            mp[j] = b1 * mp[j] + (1 - b1) * gj
                            vp[j] = b2 * vp[j] + (1 - b2) * gj * gj
                            let mHat = mp[j] * ic1, vHat = vp[j] * ic2
                            pp[j] -= rate * (mHat / (vHat.squareRoot() + eps) + decay * pp[j])
                        }
                    }
                }}}}
            }
            g.dtype == .float32 ? run(Float.self) : run(Double.self)
            p.variable.grad = nil
        }
        return norm
    }

    /// The optimizer state by name, for checkpoints: "adam.m.<param>", "adam.v.<param>".
    public var stateTensors: [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, p) in parameters.enumerated() {
            out["adam.m." + p.name] = m[i]
            out["adam.v." + p.name] = v[i]
        }
        return out
    }

    /// Restores moments and step count (the inverse of `stateTensors`).
    public func load(_ tensors: [String: Tensor], step: Int) throws {
        var newM = m, newV = v
        for (i, p) in parameters.enumerated() {
            guard let mi = tensors["adam.m." + p.name], let vi = tensors["adam.v." + p.name],
                  mi.shape == p.variable.shape, vi.shape == p.variable.shape else {
                throw ModelError.checkpointMismatch("optimizer state for '\(p.name)' is missing or misshapen")
            }
            newM[i] = mi.converted(to: p.variable.dtype)
            newV[i] = vi.converted(to: p.variable.dtype)
        }
        m = newM
        v = newV
        self.step = step
    }
}
