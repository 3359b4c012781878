import MesaTensor
import Numerics

/// The capability result (ZHENG.md item 2) position by position on held-out sequences, t = 2 … T−1:
/// the test error, the prediction/target ratio, the part of the prediction that does not recover the next
/// token, `ŷ_t − s diag(|x_{1j}|²) x_{t+1}` with s the model's `ab` (predicted to have mean square
/// `s² κ3/(t−1)`), and the distance to the one-step GD predictor.
public struct PositionProfile: Codable, Equatable {
    public var positions: [Int]
    /// `E‖ŷ_t − x_{t+1}‖²`.
    public var testError: [Double]
    /// `E Re(ŷ_{t,j} / x_{t+1,j})` over the coordinates where `x_{t+1,j} ≠ 0`.
    public var ratio: [Double]
    /// `E‖ŷ_t − s diag(|x_{1j}|²) x_{t+1}‖²`, s = the model's ab.
    public var capabilityResidual: [Double]
    /// `(Σ‖ŷ_t − ŷ_t^{GD}‖² / Σ‖ŷ_t^{GD}‖²)^{1/2}` against one-step GD with the given step size.
    public var gdGap: [Double]
    /// `E‖ŷ_t^{GD} − s_GD diag(|x_{1j}|²) x_{t+1}‖²` of that GD predictor itself (the theory's model).
    public var gdCapabilityResidual: [Double]
    /// The same ratio pooled over all positions.
    public var gdGapOverall: Double

    /// Measures `model` on `data` (reference predictions, summed over `Parallel.reductionParts` fixed parts).
    public static func measure(_ model: LinearCausalAttention, on data: ARSequenceSet, gdStepSize: Double) -> PositionProfile {
        let d = data.process.dimension, T = data.process.length
        let s = model.ab
        let positions = Array(2..<T)
        // Per position: error, ratio sum, ratio count, residual, gap², GD norm², GD residual.
        let width = 7
        let parts = Parallel.split(data.count, parts: Parallel.reductionParts)
        var partial = [[Double]](repeating: [], count: parts.count)
        partial.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(parts.count) { part in
                var sums = [Double](repeating: 0, count: T * width)
                for seq in parts[part] {
                    let x = data.tokens(seq)
                    let y = model.predictions(tokens: x)
                    let gd = OneStepGD.predictions(tokens: x, dimension: d, stepSize: gdStepSize)
                    for t in positions {
                        for a in 0..<d {
                            let target = x[(t + 1) * d + a], prediction = y[t * d + a]
                            sums[t * width] += (prediction - target).lengthSquared
                            if target != .zero {
                                sums[t * width + 1] += (prediction / target).real
                                sums[t * width + 2] += 1
                            }
                            let recovered = target.multiplied(by: s * x[d + a].lengthSquared)
                            sums[t * width + 3] += (prediction - recovered).lengthSquared
                            sums[t * width + 4] += (prediction - gd[t * d + a]).lengthSquared
                            sums[t * width + 5] += gd[t * d + a].lengthSquared
                            sums[t * width + 6] += (gd[t * d + a] - target.multiplied(by: gdStepSize * x[d + a].lengthSquared)).lengthSquared
                        }
                    }
                }
                out[part] = sums
            }
        }
        var total = [Double](repeating: 0, count: T * width)
        for p in partial { for i in total.indices { total[i] += p[i] } }
        let m = Double(data.count)
        return PositionProfile(
            positions: positions,
            testError: positions.map { total[$0 * width] / m },
            ratio: positions.map { total[$0 * width + 2] > 0 ? total[$0 * width + 1] / total[$0 * width + 2] : .nan },
            capabilityResidual: positions.map { total[$0 * width + 3] / m },
            gdGap: positions.map { (total[$0 * width + 4] / total[$0 * width + 5]).squareRoot() },
            gdCapabilityResidual: positions.map { total[$0 * width + 6] / m },
            gdGapOverall: (positions.map { total[$0 * width + 4] }.reduce(0, +) / positions.map { total[$0 * width + 5] }.reduce(0, +)).squareRoot())
    }
}
