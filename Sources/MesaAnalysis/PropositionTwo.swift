import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Prop-2, the k-step approximate-inverse mesa-optimizer (SPEC §4, [VO] Prop. 2): precondition
/// the query s_t with H_t ≈ (G_t + μI)⁻¹ (μ = 1/λ) by k Chebyshev-style (second-order
/// Richardson) steps with learned step sizes α_j, β_j, then take one gradient step:
///
///     x_0 = x_{−1} = s_t
///     x_{j+1} = x_j + α_j (s_t − (G_t + μI) x_j) + β_j (x_j − x_{j−1}),   j = 0…k−1
///     ŝ_{t+1} = η A_t x_k
///
/// with A_t, G_t of `InContextStatistics` (β_0 has no effect: x_{−1} = x_0). β = 0 is Richardson; k = 0 is GD-1 (η A_t s_t);
/// α_j → 1/(G_t + μI)'s scale over many steps makes x_k → H_t s_t and the result ridge regression.
/// This is the algorithm a k-layer linear model is hypothesized to run.
public struct PropositionTwo: Codable, Equatable, Sendable {
    public var alpha: [Double]
    public var beta: [Double]
    public var mu: Double
    public var eta: Double
    public var steps: Int { alpha.count }

    public init(alpha: [Double], beta: [Double], mu: Double, eta: Double) {
        precondition(alpha.count == beta.count, "Prop-2 needs one β per α")
        self.alpha = alpha
        self.beta = beta
        self.mu = mu
        self.eta = eta
    }

    /// Predictions [B, T, n], in plain loops (the reference the differentiable form is held to).
    public func predictions(_ s: StateSequences) -> [Double] {
        let stats = InContextStatistics(s)
        let n = s.dimension, nn = n * n
        var out = [Double](repeating: 0, count: s.inputs.count)
        for b in 0..<s.batch {
            for t in 1...s.length {
                let slot = stats.slot(b, t) * nn
                let query = (0..<n).map { s.state(b, t, $0) }
                var x = query, previous = query
                for j in 0..<steps {
                    var next = x
                    for i in 0..<n {
                        var gx = mu * x[i]
                        for c in 0..<n { gx += stats.gram[slot + i * n + c] * x[c] }
                        next[i] = x[i] + alpha[j] * (query[i] - gx) + beta[j] * (x[i] - previous[i])
                    }
                    previous = x
                    x = next
                }
                for i in 0..<n {
                    var v = 0.0
                    for c in 0..<n { v += stats.cross[slot + i * n + c] * x[c] }
                    out[(b * s.length + t - 1) * n + i] = eta * v
                }
            }
        }
        return out
    }
}

/// Prop-2's step sizes as learned parameters: the loss of a batch is the mean ½‖ŝ − s_{t+1}‖²
/// of `PropositionTwo`'s predictions, written with differentiable batched ops over all B·T
/// positions at once (x [B·T, n, 1], G_t and A_t [B·T, n, n]); fitted by the standard trainer.
public final class PropositionTwoObjective: TrainingObjective {
    public let alpha: [Variable], beta: [Variable]
    public let mu: Variable, eta: Variable

    public init(_ initial: PropositionTwo) {
        alpha = initial.alpha.map { scalarParameter($0) }
        beta = initial.beta.map { scalarParameter($0) }
        mu = scalarParameter(initial.mu)
        eta = scalarParameter(initial.eta)
    }

    public var parameters: [NamedParameter] {
        alpha.enumerated().map { NamedParameter("alpha.\($0.offset)", $0.element, decays: false) }
            + beta.enumerated().map { NamedParameter("beta.\($0.offset)", $0.element, decays: false) }
            + [NamedParameter("mu", mu, decays: false), NamedParameter("eta", eta, decays: false)]
    }

    public var current: PropositionTwo {
        PropositionTwo(alpha: alpha.map { $0.value.doubles[0] }, beta: beta.map { $0.value.doubles[0] },
                       mu: mu.value.doubles[0], eta: eta.value.doubles[0])
    }

    /// The predictions [B, T, n] as a Variable.
    public func predictions(_ s: StateSequences) -> Variable {
        let stats = InContextStatistics(s)
        let (rows, n) = (s.batch * s.length, s.dimension)
        let query = Variable(Tensor(shape: [rows, n, 1], s.inputs))                       // (B·T, n, 1)
        let gram = Variable(Tensor(shape: [rows, n, n], stats.gram))                       // (B·T, n, n)
        let cross = Variable(Tensor(shape: [rows, n, n], stats.cross))
        var x = query, previous = query
        for j in alpha.indices {
            let residual = query - matmul(gram, x) - scaled(x, by: mu)                     // (B·T, n, 1)
            let next = x + scaled(residual, by: alpha[j]) + scaled(x - previous, by: beta[j])
            previous = x
            x = next
        }
        return reshaped(scaled(matmul(cross, x), by: eta), [s.batch, s.length, n])         // (B, T, n)
    }

    public func loss(on batch: SequenceBatch) -> Variable {
        let s = StateSequences(inputs: batch.inputs.converted(to: .float64), targets: batch.targets.converted(to: .float64))
        return halfSquaredError(predictions(s), batch.targets.converted(to: .float64))
    }
}

extension PropositionTwo {
    /// Fits k steps' α, β, μ, η by AdamW on the training batches of `config`'s task (SPEC §4:
    /// "learnable step sizes"), starting from GD-1 (α = β = 0, μ = 1, η = `initialEta`).
    /// `config` supplies the task, batch size, step count, schedule and clipping.
    public static func fit(steps k: Int, initialEta: Double, config: TrainConfig) throws -> PropositionTwo {
        let objective = PropositionTwoObjective(
            PropositionTwo(alpha: Array(repeating: 0, count: k), beta: Array(repeating: 0, count: k), mu: 1, eta: initialEta))
        // The trainer keeps a model beside its objective; Prop-2 reads none, so the smallest one will do.
        var small = config.model
        small.layers = [.linear]
        let trainer = try Trainer(config: config, model: try Transformer(config: small, seed: config.seed), objective: objective)
        for _ in 0..<config.steps { _ = try trainer.trainStep() }
        return objective.current
    }
}
