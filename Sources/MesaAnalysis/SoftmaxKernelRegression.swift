import Foundation
import MesaTensor

/// Softmax kernel regression (SPEC §4): the next state as a softmax-weighted average of the
/// successors of past states, weighted by their similarity to the current one,
///
///     ŝ_{t+1} = Σ_{t'<t} s_{t'+1} softmax_{t'}(β s_{t'}ᵀ s_t)
///
/// over the pairs (s_{t'}, s_{t'+1}) seen so far (none at t = 1: the prediction is 0).
/// β = 0 averages s_2…s_t; β → ∞ copies the successor of the nearest past state.
public enum SoftmaxKernelRegression {
    public static func predictions(_ s: StateSequences, beta: Double) -> [Double] {
        let n = s.dimension
        var out = [Double](repeating: 0, count: s.inputs.count)
        for b in 0..<s.batch {
            for t in 2...max(s.length, 2) where t <= s.length {
                var logits = [Double](repeating: 0, count: t - 1)
                for tp in 1..<t {
                    var d = 0.0
                    for i in 0..<n { d += s.state(b, tp, i) * s.state(b, t, i) }
                    logits[tp - 1] = beta * d
                }
                let m = logits.max()!
                let w = logits.map { exp($0 - m) }
                let z = w.reduce(0, +)
                for tp in 1..<t {
                    for i in 0..<n { out[(b * s.length + t - 1) * n + i] += w[tp - 1] / z * s.state(b, tp + 1, i) }
                }
            }
        }
        return out
    }

    /// The β with the lowest mean loss on `s` (a validation batch), searched over [1e-2, 1e3].
    public static func lineSearch(_ s: StateSequences) -> Double {
        goldenSectionMinimum({ beta in
            let l = s.loss(of: predictions(s, beta: beta))
            return l.reduce(0, +) / Double(l.count)
        }, grid: (0...20).map { pow(10, -2 + Double($0) / 4) })
    }
}
