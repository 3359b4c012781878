import Numerics
import MesaTensor

/// The moments of the initial token that the [ZH] limits depend on (ZHENG.md §What theory predicts):
///
///     κ0 = Σ_j E|x_{1j}|²     κ1 = Σ_j E|x_{1j}|⁴     κ2 = Σ_j E|x_{1j}|⁶
///     κ3 = Σ_j Σ_{k≠j} E[|x_{1j}|² |x_{1k}|⁴]
public struct InitialTokenMoments: Codable, Equatable {
    public var kappa0: Double
    public var kappa1: Double
    public var kappa2: Double
    public var kappa3: Double
    /// Standard errors of the four estimates (zero for closed forms).
    public var standardErrors: [Double]

    public init(kappa0: Double, kappa1: Double, kappa2: Double, kappa3: Double, standardErrors: [Double] = [0, 0, 0, 0]) {
        self.kappa0 = kappa0
        self.kappa1 = kappa1
        self.kappa2 = kappa2
        self.kappa3 = kappa3
        self.standardErrors = standardErrors
    }

    /// Closed forms, where there are:
    /// Gaussian (E x² = σ², E x⁴ = 3σ⁴, E x⁶ = 15σ⁶, coordinates independent):
    ///     κ0 = dσ², κ1 = 3dσ⁴, κ2 = 15dσ⁶, κ3 = 3d(d−1)σ⁶;
    /// sparse (one coordinate of modulus c): κ0 = c², κ1 = c⁴, κ2 = c⁶, κ3 = 0;
    /// full-one: κ0 = κ1 = κ2 = d, κ3 = d(d−1).
    public static func exact(_ distribution: InitialTokenDistribution, dimension d: Int) -> InitialTokenMoments? {
        let n = Double(d)
        switch distribution {
        case let .gaussian(sigma):
            let s2 = sigma * sigma
            return InitialTokenMoments(kappa0: n * s2, kappa1: 3 * n * s2 * s2, kappa2: 15 * n * s2 * s2 * s2,
                                       kappa3: 3 * n * (n - 1) * s2 * s2 * s2)
        case let .sparse(c):
            let c2 = c * c
            return InitialTokenMoments(kappa0: c2, kappa1: c2 * c2, kappa2: c2 * c2 * c2, kappa3: 0)
        case .fullOne:
            return InitialTokenMoments(kappa0: n, kappa1: n, kappa2: n, kappa3: n * (n - 1))
        case .custom:
            return nil
        }
    }

    /// Monte Carlo estimate from `samples` draws of `x_1` (draw i from stream (seed, `.experiment`, index i)),
    /// with the standard error of each mean.
    public static func monteCarlo(_ distribution: InitialTokenDistribution, dimension d: Int, samples: Int,
                                  seed: UInt64) throws -> InitialTokenMoments {
        try distribution.validate()
        guard d >= 1 else { throw TheoryError.invalid("dimension d must be at least 1, got \(d)") }
        guard samples >= 2 else { throw TheoryError.invalid("a Monte Carlo estimate needs at least 2 samples, got \(samples)") }
        var sum = [Double](repeating: 0, count: 4), sumSquares = sum
        for i in 0..<samples {
            var stream = RandomStream(seed: seed, purpose: .experiment, index: i)
            let x = distribution.draw(dimension: d, stream: &stream)
            let m2 = x.map(\.lengthSquared)
            guard m2.allSatisfy(\.isFinite) else {
                throw TheoryError.invalid("initial-token distribution '\(distribution)' drew a non-finite token")
            }
            let total2 = m2.reduce(0, +), total4 = m2.map { $0 * $0 }.reduce(0, +)
            // Σ_j Σ_{k≠j} |x_j|²|x_k|⁴ = (Σ_j |x_j|²)(Σ_k |x_k|⁴) − Σ_j |x_j|⁶
            let total6 = m2.map { $0 * $0 * $0 }.reduce(0, +)
            let values = [total2, total4, total6, total2 * total4 - total6]
            for k in 0..<4 {
                sum[k] += values[k]
                sumSquares[k] += values[k] * values[k]
            }
        }
        let n = Double(samples)
        let mean = sum.map { $0 / n }
        let errors = (0..<4).map { k in (max(sumSquares[k] / n - mean[k] * mean[k], 0) / (n - 1)).squareRoot() }
        return InitialTokenMoments(kappa0: mean[0], kappa1: mean[1], kappa2: mean[2], kappa3: mean[3], standardErrors: errors)
    }

    /// Closed forms where they exist, otherwise a Monte Carlo estimate.
    public static func of(_ distribution: InitialTokenDistribution, dimension d: Int, monteCarloSamples: Int = 1_000_000,
                          seed: UInt64 = 0) throws -> InitialTokenMoments {
        if let exact = exact(distribution, dimension: d) { return exact }
        return try monteCarlo(distribution, dimension: d, samples: monteCarloSamples, seed: seed)
    }
}
