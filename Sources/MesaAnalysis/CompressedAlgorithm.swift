import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// CompressedAlg-k (SPEC §4): a k-layer linear self-attention model on constructed tokens
/// e_t = [e⁰, e¹, e², e³] ∈ R⁴ⁿ whose per-head products are 4×4 grids of scalar·I_n blocks,
///
///     W_KᵀW_Q = Σ_{ij} c_{h,ij} E_ij ⊗ I_n,   P W_V = Σ_{ij} d_{h,ij} E_ij ⊗ I_n,
///     Δe_t = Σ_h (P W_V)_h Σ_{t'≤t} e_{t'} (e_{t'}ᵀ (W_KᵀW_Q)_h e_t),   e ← clip(e + Δe),
///
/// 16 + 16 scalars per head instead of the full model's 2·(4n)²; the prediction of s_{t+1} is
/// the first n coordinates of the last layer's output, as for the linear-k models (SPEC §1–2).
/// The scalars are [layer][head][16], block (i, j) at 4i + j.
public struct CompressedAlgorithm: Codable, Equatable, Sendable {
    public var keyQuery: [[[Double]]]
    public var projectionValue: [[[Double]]]
    /// Activation clipping after every layer (nil: none), as the model it compresses.
    public var activationClip: Double?

    public init(keyQuery: [[[Double]]], projectionValue: [[[Double]]], activationClip: Double?) {
        precondition(keyQuery.count == projectionValue.count
                     && zip(keyQuery, projectionValue).allSatisfy { $0.count == $1.count && ($0 + $1).allSatisfy { $0.count == 16 } },
                     "CompressedAlg: 16 + 16 scalars per head and layer")
        self.keyQuery = keyQuery
        self.projectionValue = projectionValue
        self.activationClip = activationClip
    }

    public var layers: Int { keyQuery.count }
    public var heads: Int { keyQuery.first?.count ?? 0 }

    /// Prop. 1's one-layer, one-head algorithm on masked constructed tokens [0, 0, s_t, s_{t−1}]:
    /// W_KᵀW_Q = E_{32} ⊗ I (key s_{t'−1}, query s_t), P W_V = η E_{02} ⊗ I (value s_{t'} into the
    /// prediction block), i.e. ŝ_{t+1} = η Σ_{t'≤t} s_{t'} s_{t'−1}ᵀ s_t: GD-1.
    public static func propositionOne(eta: Double) -> CompressedAlgorithm {
        var c = [Double](repeating: 0, count: 16), d = c
        c[4 * 3 + 2] = 1
        d[4 * 0 + 2] = eta
        return CompressedAlgorithm(keyQuery: [[c]], projectionValue: [[d]], activationClip: nil)
    }

    /// Predictions [B, T, n] from states [B, T, n] (tokens built by `tokens`), in plain Double
    /// loops: the reference the differentiable form is held to.
    public func predictions(_ s: StateSequences, tokens: TokenConstruction) -> [Double] {
        let n = s.dimension, w = 4 * n, (bSize, tLen) = (s.batch, s.length)
        var e = tokens.tokens(from: Tensor(shape: [bSize, tLen, n], s.inputs)).doubles  // (B, T, 4n)
        // (E_ij ⊗ I) x: block i of the result is x's block j.
        func apply(_ grid: [Double], _ x: ArraySlice<Double>) -> [Double] {
            var y = [Double](repeating: 0, count: w)
            let base = x.startIndex
            for i in 0..<4 { for j in 0..<4 where grid[4 * i + j] != 0 {
                for r in 0..<n { y[i * n + r] += grid[4 * i + j] * x[base + j * n + r] }
            } }
            return y
        }
        for l in 0..<layers {
            var delta = [Double](repeating: 0, count: e.count)
            for b in 0..<bSize {
                for h in 0..<heads {
                    for t in 0..<tLen {
                        let q = apply(keyQuery[l][h], e[((b * tLen + t) * w)..<((b * tLen + t + 1) * w)])
                        var acc = [Double](repeating: 0, count: w)  // Σ_{t'≤t} e_{t'} (e_{t'}ᵀ q)
                        for tp in 0...t {
                            let row = (b * tLen + tp) * w
                            var score = 0.0
                            for i in 0..<w { score += e[row + i] * q[i] }
                            for i in 0..<w { acc[i] += score * e[row + i] }
                        }
                        let out = apply(projectionValue[l][h], acc[...])
                        for i in 0..<w { delta[(b * tLen + t) * w + i] += out[i] }
                    }
                }
            }
            for i in e.indices {
                e[i] += delta[i]
                if let c = activationClip { e[i] = min(max(e[i], -c), c) }
            }
        }
        var out = [Double](repeating: 0, count: s.inputs.count)
        for r in 0..<(bSize * tLen) { for i in 0..<n { out[r * n + i] = e[r * w + i] } }
        return out
    }
}

/// CompressedAlg-k as a trainable model: the 16 + 16 scalars of every head are the parameters;
/// the layer runs the ordinary fused linear-attention op with W_K = W_V = I (per head) and
/// W_Q, P assembled from the scalars by a constant linear map (so both are differentiable
/// in the scalars through `linear`). Trained like any model with `Trainer` (SPEC §4).
public final class CompressedAlgorithmObjective: TrainingObjective {
    public let keyQuery: [Variable], projectionValue: [Variable]   // per layer (1, 16·H)
    public let tokens: TokenConstruction
    public let activationClip: Double?
    let n: Int, heads: Int
    let queryBasis: Variable, projectionBasis: Variable
    /// W_K = W_V = I per head: [H·4n, 4n].
    let identities: Variable

    /// A fresh model: scalars drawn N(0, initStd²) from `seed`'s parameter stream.
    public init(layers: Int, heads: Int, dimension n: Int, tokens: TokenConstruction, activationClip: Double?,
                initStd: Double, seed: UInt64, dtype: DType = .float32) {
        var init_ = ParameterInitializer(seed: seed, dtype: dtype)
        keyQuery = (0..<layers).map { _ in init_.normal([1, 16 * heads], std: initStd) }
        projectionValue = (0..<layers).map { _ in init_.normal([1, 16 * heads], std: initStd) }
        self.tokens = tokens
        self.activationClip = activationClip
        self.n = n
        self.heads = heads
        let w = 4 * n
        // W_Q[h·4n + r, c] = c_{h, (r/n)(c/n)} when r%n == c%n.
        var q = [Double](repeating: 0, count: heads * w * w * 16 * heads)
        // P[r, h·4n + c] = d_{h, (r/n)(c/n)} when r%n == c%n.
        var p = q
        for h in 0..<heads { for r in 0..<w { for c in 0..<w where r % n == c % n {
            let scalar = h * 16 + 4 * (r / n) + c / n
            q[((h * w + r) * w + c) * 16 * heads + scalar] = 1
            p[(r * heads * w + h * w + c) * 16 * heads + scalar] = 1
        } } }
        queryBasis = Variable(Tensor(shape: [heads * w * w, 16 * heads], q, dtype: dtype))
        projectionBasis = Variable(Tensor(shape: [heads * w * w, 16 * heads], p, dtype: dtype))
        var ids = [Double](repeating: 0, count: heads * w * w)
        for h in 0..<heads { for i in 0..<w { ids[(h * w + i) * w + i] = 1 } }
        identities = Variable(Tensor(shape: [heads * w, w], ids, dtype: dtype))
    }

    /// Sets the scalars (any dtype widens or narrows to the parameters').
    public func assign(_ alg: CompressedAlgorithm) {
        for l in 0..<keyQuery.count {
            keyQuery[l].assign(Tensor(shape: [1, 16 * heads], alg.keyQuery[l].flatMap { $0 }).converted(to: keyQuery[l].dtype))
            projectionValue[l].assign(Tensor(shape: [1, 16 * heads], alg.projectionValue[l].flatMap { $0 })
                .converted(to: projectionValue[l].dtype))
        }
    }

    public var current: CompressedAlgorithm {
        func grid(_ v: Variable) -> [[Double]] { let d = v.value.doubles; return (0..<heads).map { Array(d[($0 * 16)..<($0 * 16 + 16)]) } }
        return CompressedAlgorithm(keyQuery: keyQuery.map(grid), projectionValue: projectionValue.map(grid),
                                   activationClip: activationClip)
    }

    public var parameters: [NamedParameter] {
        keyQuery.enumerated().map { NamedParameter("layers.\($0.offset).keyQuery", $0.element, decays: false) }
            + projectionValue.enumerated().map { NamedParameter("layers.\($0.offset).projectionValue", $0.element, decays: false) }
    }

    /// Layer l's W_Q (H·4n, 4n) and P (4n, H·4n), assembled from its scalars.
    func layerWeights(_ l: Int) -> (wq: Variable, p: Variable) {
        let w = 4 * n
        return (reshaped(linear(keyQuery[l], queryBasis), [heads * w, w]),
                reshaped(linear(projectionValue[l], projectionBasis), [w, heads * w]))
    }

    /// Predictions [B, T, n] from states [B, T, n].
    public func predictions(_ states: Tensor) -> Variable {
        var e = Variable(tokens.tokens(from: states.converted(to: keyQuery[0].dtype)))                  // (B, T, 4n)
        let spec = AttentionSpec(kind: .linear, heads: heads)
        for l in keyQuery.indices {
            let (wq, p) = layerWeights(l)
            e = e + attentionLayer(spec, e, queryKeyInput: e, wq: wq, wk: identities, wv: identities, p: p)
            if let c = activationClip { e = clip(e, c) }
        }
        return columns(e, 0..<n)                                                              // (B, T, n)
    }

    public func loss(on batch: SequenceBatch) -> Variable {
        halfSquaredError(predictions(batch.inputs), batch.targets, weights: batch.lossMask)
    }
}

extension CompressedAlgorithm {
    /// Trains CompressedAlg-k with `config`'s task, batches, schedule and optimizer, the linear-k
    /// model's tokens, depth, heads and clipping, in Float32; returns the scalars.
    public static func train(config: TrainConfig, initStd: Double = 1e-3,
                             onStep: ((Trainer.StepResult) -> Void)? = nil) throws -> CompressedAlgorithm {
        let m = config.model
        let objective = CompressedAlgorithmObjective(layers: m.layers.count, heads: m.heads, dimension: config.task.dimension,
                                                     tokens: config.tokens, activationClip: m.activationClip,
                                                     initStd: initStd, seed: config.seed)
        var small = m
        small.layers = [.linear]
        let trainer = try Trainer(config: config, model: try Transformer(config: small, seed: config.seed), objective: objective)
        for _ in 0..<config.steps {
            let result = try trainer.trainStep()  // not inside `onStep?(…)`: a nil onStep would skip the step
            onStep?(result)
        }
        return objective.current
    }
}
