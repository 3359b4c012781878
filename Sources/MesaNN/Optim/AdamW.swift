import CSupport
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
                        let c = AdamWConstants<S>(beta1: s.beta1, beta2: s.beta2, epsilon: s.epsilon, rate: lr,
                                                  inverseC1: 1 / c1, inverseC2: 1 / c2, decay: wd, scale: scale, clip: elementClip)
                        adamwElements(pp.count, g: gp.baseAddress!, m: mp.baseAddress!, v: vp.baseAddress!,
                                      p: pp.baseAddress!, c)
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

/// The update's constants in the parameter's precision.
public struct AdamWConstants<S: TensorScalar> {
    public let b1: S, b2: S, eps: S, rate: S, ic1: S, ic2: S, decay: S, sc: S, ec: S
    public init(beta1: Double, beta2: Double, epsilon: Double, rate: Double, inverseC1: Double, inverseC2: Double,
         decay: Double, scale: Double, clip: Double) {
        b1 = S(beta1); b2 = S(beta2); eps = S(epsilon); self.rate = S(rate)
        ic1 = S(inverseC1); ic2 = S(inverseC2); self.decay = S(decay); sc = S(scale); ec = S(clip)
    }
}

/// One AdamW step on `count` elements, as the formulas read (`adamwElementsReference`), several
/// elements at a time: every operation is element-wise and correctly rounded (+, −, ×, ÷, √),
/// done in the reference's order, so the lanes give the reference's bits. Float32 on x86-64 runs
/// CSupport's adamw512.c (16 lanes when `wide`, else 8); everything else `adamwElementsSIMD8`.
public func adamwElements<S: TensorScalar>(_ count: Int, g: UnsafePointer<S>, m: UnsafeMutablePointer<S>,
                                    v: UnsafeMutablePointer<S>, p: UnsafeMutablePointer<S>, _ c: AdamWConstants<S>,
                                    wide: Bool = KernelChoice.avx512) {
    #if arch(x86_64)
    // Float32 on x86-64: CSupport's adamw512.c (16 or 8 lanes). This Swift loop's two masked
    // replacements compile to per-lane branches (~50 ns an element in the profile, on the calling
    // thread while the other cores wait); Double keeps it.
    if S.self == Float.self {
        func f(_ x: S) -> Float { unsafeBitCast(x, to: Float.self) }
        var k = MesaAdamWConstants(b1: f(c.b1), b2: f(c.b2), eps: f(c.eps), rate: f(c.rate), ic1: f(c.ic1),
                                   ic2: f(c.ic2), decay: f(c.decay), sc: f(c.sc), ec: f(c.ec))
        let gf = UnsafeRawPointer(g).assumingMemoryBound(to: Float.self)
        let (mf, vf, pf) = (UnsafeMutableRawPointer(m).assumingMemoryBound(to: Float.self),
                            UnsafeMutableRawPointer(v).assumingMemoryBound(to: Float.self),
                            UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self))
        if wide {
            precondition(KernelChoice.cpuHasAVX512, "AVX-512 AdamW asked for on a CPU without AVX-512")
            mesa512_adamw(count, gf, mf, vf, pf, &k)
        } else {
            mesa_adamw_avx2(count, gf, mf, vf, pf, &k)
        }
        return
    }
    #endif
    adamwElementsSIMD8(count, g: g, m: m, v: v, p: p, c)
}

/// `adamwElements` in Swift, eight elements at a time (Double, and Float32 off x86-64).
public func adamwElementsSIMD8<S: TensorScalar>(_ count: Int, g: UnsafePointer<S>, m: UnsafeMutablePointer<S>,
                                                v: UnsafeMutablePointer<S>, p: UnsafeMutablePointer<S>,
                                                _ c: AdamWConstants<S>) {
    typealias V = SIMD8<S>
    let full = count / 8 * 8
    let b1 = V(repeating: c.b1), b2 = V(repeating: c.b2), a1 = V(repeating: 1 - c.b1), a2 = V(repeating: 1 - c.b2)
    let eps = V(repeating: c.eps), rate = V(repeating: c.rate), ic1 = V(repeating: c.ic1), ic2 = V(repeating: c.ic2)
    let decay = V(repeating: c.decay), sc = V(repeating: c.sc), ec = V(repeating: c.ec), nec = V(repeating: -c.ec)
    func load(_ q: UnsafePointer<S>) -> V { UnsafeRawPointer(q).loadUnaligned(as: V.self) }
    func store(_ x: V, _ q: UnsafeMutablePointer<S>) { UnsafeMutableRawPointer(q).storeBytes(of: x, as: V.self) }
    var j = 0
    while j < full {
        // min(max(x, −c), c) as Swift's max and min pick: NaN stays NaN.
        var gj = load(g + j) * sc
        gj.replace(with: nec, where: gj .<= nec)
        gj.replace(with: ec, where: gj .> ec)
        let mj = b1 * load(m + j) + a1 * gj
        let vj = b2 * load(v + j) + a2 * gj * gj
        store(mj, m + j)
        store(vj, v + j)
        let mHat = mj * ic1, vHat = vj * ic2
        let pj = load(p + j)
        store(pj - rate * (mHat / (vHat.squareRoot() + eps) + decay * pj), p + j)
        j += 8
    }
    adamwElementsReference(from: full, to: count, g: g, m: m, v: v, p: p, c)
}

/// The update of elements `from..<to`, one at a time as the formulas read (the reference).
public func adamwElementsReference<S: TensorScalar>(from: Int, to: Int, g: UnsafePointer<S>, m: UnsafeMutablePointer<S>,
                                             v: UnsafeMutablePointer<S>, p: UnsafeMutablePointer<S>, _ c: AdamWConstants<S>) {
    for j in from..<to {
        let gj = min(max(g[j] * c.sc, -c.ec), c.ec)
        m[j] = c.b1 * m[j] + (1 - c.b1) * gj
        v[j] = c.b2 * v[j] + (1 - c.b2) * gj * gj
        let mHat = m[j] * c.ic1, vHat = v[j] * c.ic2
        p[j] -= c.rate * (mHat / (vHat.squareRoot() + c.eps) + c.decay * p[j])
    }
}
