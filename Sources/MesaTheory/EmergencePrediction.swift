/// The closed-form predictions of ZHENG.md §What theory predicts, items 1 and 2.
///
/// With `W^{KQ} = [[0,0],[aI,0]]`, `W^{PV} = [bI, 0]` and `s = ab`, the model predicts
/// `ŷ_t = s z_t` with `z_t = S12_t x_t / (t−1)`, `S12_t = Σ_{i≤t} x_i x_{i−1}ᴴ`, and the expected loss is
///
///     L(s) = ½ s² [(T−2)κ2 + H κ3] − s (T−2)κ1 + const,
///
/// because `E Re⟨z_t, x_{t+1}⟩ = κ1` and `E‖z_t‖² = κ2 + κ3/(t−1)` (every term in which a rotation
/// `e^{iθ_j}` keeps a nonzero power averages to zero). Gradient descent on the (a, b) pair therefore
/// stops at the minimizer
///
///     s* = (T−2)κ1 / ((T−2)κ2 + H κ3),   H = Σ_{t=2}^{T−1} 1/(t−1).
public struct EmergencePrediction: Codable, Equatable {
    public let dimension: Int
    public let length: Int
    public let moments: InitialTokenMoments

    public init(dimension: Int, length: Int, moments: InitialTokenMoments) {
        self.dimension = dimension
        self.length = length
        self.moments = moments
    }

    public init(_ process: ARProcess, monteCarloSamples: Int = 1_000_000, seed: UInt64 = 0) throws {
        try process.validate()
        self.init(dimension: process.dimension, length: process.length,
                  moments: try .of(process.initialToken, dimension: process.dimension,
                                   monteCarloSamples: monteCarloSamples, seed: seed))
    }

    /// `H = Σ_{t=2}^{T−1} 1/(t−1)`, the harmonic number `H_{T−2}`.
    public static func harmonicSum(length T: Int) -> Double {
        var h = 0.0
        // Smallest terms first.
        for k in stride(from: T - 2, through: 1, by: -1) { h += 1 / Double(k) }
        return h
    }

    public var harmonicSum: Double { Self.harmonicSum(length: length) }

    /// `s* = (T−2)κ1 / ((T−2)κ2 + H κ3)`: the limit of `ab`, and the one-step GD step size times (t−1).
    public var stepSize: Double {
        let n = Double(length - 2)
        return n * moments.kappa1 / (n * moments.kappa2 + harmonicSum * moments.kappa3)
    }

    /// Expected prediction/target ratio per coordinate, `E[ŷ_{t,j} / x_{t+1,j}] = s* κ0 / d`,
    /// at every position (the cross terms average to zero); `s*σ²` for the Gaussian.
    public var expectedRatio: Double { stepSize * moments.kappa0 / Double(dimension) }

    /// `E‖ŷ_t − s diag(|x_{1j}|²) x_{t+1}‖² = s² κ3 / (t−1)` for the model with `ab = s`: the part of
    /// the prediction that does not recover the next token vanishes as the position grows (item 2).
    public func capabilityResidual(position t: Int, stepSize s: Double) -> Double {
        s * s * moments.kappa3 / Double(t - 1)
    }

    /// `E‖ŷ_t − x_{t+1}‖²` for the model with `ab = s` at position t:
    ///     Σ_j E[|x_{1j}|² (s|x_{1j}|² − 1)²] + s² κ3/(t−1) = s²κ2 − 2sκ1 + κ0 + s²κ3/(t−1).
    public func testError(position t: Int, stepSize s: Double) -> Double {
        s * s * moments.kappa2 - 2 * s * moments.kappa1 + moments.kappa0 + capabilityResidual(position: t, stepSize: s)
    }

    /// Training loss per sequence `L(s) = ½ Σ_{t=2}^{T−1} E‖ŷ_t − x_{t+1}‖²` for the model with `ab = s`.
    public func loss(stepSize s: Double) -> Double {
        let n = Double(length - 2)
        return 0.5 * (n * (s * s * moments.kappa2 - 2 * s * moments.kappa1 + moments.kappa0)
                      + s * s * harmonicSum * moments.kappa3)
    }
}
