import Numerics

/// The full-batch loss of ZHENG.md §Model and its complex gradient `∂L/∂Re W + i ∂L/∂Im W`.
public struct LossAndGradient {
    /// `L = (1/2m) Σ_n Σ_{t=2}^{T−1} ‖ŷ_t − x_{t+1}‖²`.
    public var loss: Double
    /// ∇ of L with respect to W^{KQ}, (2d, 2d).
    public var keyQuery: [Complex<Double>]
    /// ∇ of L with respect to W^{PV}, (d, 2d).
    public var projectionValue: [Complex<Double>]

    /// Largest modulus of any gradient entry.
    public var maxModulus: Double { (keyQuery + projectionValue).map(\.length).max() ?? 0 }
}

extension LinearCausalAttention {
    /// The loss and gradient written as the math reads, one sequence and one position at a time; the
    /// reference `FullBatchObjective` is tested against. For `½‖r‖²` with `r = W^{PV} v − y`, the complex
    /// gradient is `r vᴴ`; with `r_t = (ŷ_t − x_{t+1})/(t−1)`, `S_t = E_t E_tᴴ` and `v_t = S_t W^{KQ} e_t`:
    ///
    ///     ∇_{W^{PV}} L = (1/m) Σ_n Σ_t r_t v_tᴴ,   ∇_{W^{KQ}} L = (1/m) Σ_n Σ_t S_t W^{PV}ᴴ r_t e_tᴴ.
    public func referenceLossAndGradient(on data: ARSequenceSet) -> LossAndGradient {
        let d = dimension, n = 2 * d, T = data.process.length
        precondition(data.process.dimension == d, "model d = \(d), data d = \(data.process.dimension)")
        var loss = 0.0
        var gradKQ = [Complex<Double>](repeating: .zero, count: n * n)
        var gradPV = [Complex<Double>](repeating: .zero, count: d * n)
        for seq in 0..<data.count {
            let x = data.tokens(seq)
            var gram = [Complex<Double>](repeating: .zero, count: n * n)
            var e = [Complex<Double>](repeating: .zero, count: n)
            for t in 1..<T {
                for j in 0..<d { e[j] = x[t * d + j]; e[d + j] = x[(t - 1) * d + j] }
                for p in 0..<n { for q in 0..<n { gram[p * n + q] += e[p] * e[q].conjugate } }
                guard t >= 2 else { continue }
                let u = product(keyQuery, rows: n, e)
                let v = product(gram, rows: n, u)
                let scale = 1 / Double(t - 1)
                var r = product(projectionValue, rows: d, v)
                for a in 0..<d {
                    r[a] = r[a].multiplied(by: scale) - x[(t + 1) * d + a]
                    loss += r[a].lengthSquared
                    r[a] = r[a].multiplied(by: scale)
                }
                for a in 0..<d { for q in 0..<n { gradPV[a * n + q] += r[a] * v[q].conjugate } }
                var g = [Complex<Double>](repeating: .zero, count: n)
                for q in 0..<n { for a in 0..<d { g[q] += projectionValue[a * n + q].conjugate * r[a] } }
                let w = product(gram, rows: n, g)
                for p in 0..<n { for q in 0..<n { gradKQ[p * n + q] += w[p] * e[q].conjugate } }
            }
        }
        let m = Double(data.count)
        return LossAndGradient(loss: loss / (2 * m), keyQuery: gradKQ.map { $0.divided(by: m) },
                               projectionValue: gradPV.map { $0.divided(by: m) })
    }
}

/// `M v` for a row-major matrix with `rows` rows.
func product(_ m: [Complex<Double>], rows: Int, _ v: [Complex<Double>]) -> [Complex<Double>] {
    let cols = v.count
    var out = [Complex<Double>](repeating: .zero, count: rows)
    for r in 0..<rows { for c in 0..<cols { out[r] += m[r * cols + c] * v[c] } }
    return out
}
