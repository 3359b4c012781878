import MesaTensor
import Numerics

/// The algorithm the trained model implements under the data condition (ZHENG.md item 1): one step of
/// gradient descent from `W = 0` on the in-context least-squares loss `½ Σ_{i<t} ‖x_{i+1} − W x_i‖²`
/// with step `s/(t−1)`, applied to `x_t`:
///
///     Ŵ_t = (s/(t−1)) Σ_{i=1}^{t−1} x_{i+1} x_iᴴ,   ŷ_t = Ŵ_t x_t.
///
/// `LinearCausalAttention.diagonal(a, b)` computes exactly this with `s = ab`.
public enum OneStepGD {
    /// Predictions for the rows `x_0 = 0, x_1, …, x_T` of a (T+1, d) matrix, laid out as
    /// `LinearCausalAttention.predictions`: row t is `ŷ_t` for t = 2 … T−1, zero elsewhere.
    public static func predictions(tokens x: [Complex<Double>], dimension d: Int, stepSize s: Double) -> [Complex<Double>] {
        let T = x.count / d - 1
        var y = [Complex<Double>](repeating: .zero, count: (T + 1) * d)
        var gradient = [Complex<Double>](repeating: .zero, count: d * d)  // −∇ at W = 0: Σ_{i<t} x_{i+1} x_iᴴ
        for t in 2..<max(T, 2) {
            for a in 0..<d { for c in 0..<d { gradient[a * d + c] += x[t * d + a] * x[(t - 1) * d + c].conjugate } }
            let step = s / Double(t - 1)
            for a in 0..<d {
                var ya = Complex<Double>.zero
                for c in 0..<d { ya += gradient[a * d + c] * x[t * d + c] }
                y[t * d + a] = ya.multiplied(by: step)
            }
        }
        return y
    }

    /// The step size s minimizing the loss of the one-step GD predictor on `data`: the least-squares fit
    ///
    ///     s = Σ_n Σ_{t=2}^{T−1} Re⟨z_t, x_{t+1}⟩ / Σ_n Σ_t ‖z_t‖²,   z_t = Σ_{i<t} x_{i+1} x_iᴴ x_t / (t−1).
    ///
    /// The ratio of the two expectations is s* (`EmergencePrediction`); on a finite set this is the minimizer of the
    /// training loss over the tied diagonal family, the value trained `ab` should approach.
    /// Sums run over `Parallel.reductionParts` fixed parts: the same bits for any number of threads.
    public static func bestStepSize(on data: ARSequenceSet) -> Double {
        let d = data.process.dimension
        let parts = Parallel.split(data.count, parts: Parallel.reductionParts)
        var partial = [(numerator: Double, denominator: Double)](repeating: (0, 0), count: parts.count)
        partial.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(parts.count) { part in
                var numerator = 0.0, denominator = 0.0
                for n in parts[part] {
                    let x = data.tokens(n)
                    let z = predictions(tokens: x, dimension: d, stepSize: 1)
                    for t in 2..<data.process.length {
                        for a in 0..<d {
                            numerator += (z[t * d + a].conjugate * x[(t + 1) * d + a]).real
                            denominator += z[t * d + a].lengthSquared
                        }
                    }
                }
                out[part] = (numerator, denominator)
            }
        }
        return partial.map(\.numerator).reduce(0, +) / partial.map(\.denominator).reduce(0, +)
    }
}
