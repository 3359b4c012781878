import Foundation
import MesaTensor

/// Multi-step and preconditioned gradient descent on the in-context objective L_t (SPEC §4).
///
///     Φ_0 = 0,   Φ_{j+1} = Φ_j − η ∇L_t(Φ_j) H = Φ_j + η (A_t − Φ_j G_t) H,   ŝ_{t+1} = Φ_k s_t
///
/// with H = I (plain GD) or H = (G_t + λI)⁻¹ (preconditioned GD). One plain step is GD-1
/// (η A_t s_t); one preconditioned step with η = 1 is ridge regression; k plain steps with
/// η < 2/λ_max(G_t) approach least squares as k grows.
public enum MultiStepGD {
    /// How each step is preconditioned.
    public enum Preconditioner: Equatable, Sendable {
        case identity
        /// H = (G_t + λI)⁻¹, exact.
        case ridge(lambda: Double)
    }

    /// Predictions [B, T, n] of k steps with step size η.
    public static func predictions(_ s: StateSequences, steps k: Int, eta: Double,
                                   preconditioner: Preconditioner = .identity) -> [Double] {
        predictions(InContextStatistics(s), s, steps: k, eta: eta, preconditioner: preconditioner)
    }

    static func predictions(_ stats: InContextStatistics, _ s: StateSequences, steps k: Int, eta: Double,
                            preconditioner: Preconditioner) -> [Double] {
        let n = s.dimension, nn = n * n
        var out = [Double](repeating: 0, count: s.inputs.count)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forChunks(s.batch) { range in
                for b in range {
                    for t in 1...s.length {
                        let slot = stats.slot(b, t) * nn
                        let a = Array(stats.cross[slot..<(slot + nn)]), g = Array(stats.gram[slot..<(slot + nn)])
                        var h: [Double]?
                        if case let .ridge(lambda) = preconditioner {
                            var gl = g
                            for i in 0..<n { gl[i * n + i] += lambda }
                            h = Linalg.inverse(gl, n)
                        }
                        var phi = [Double](repeating: 0, count: nn)
                        for _ in 0..<k {
                            // R = A − Φ G (the negative gradient), then Φ += η R H.
                            var r = a
                            let pg = Linalg.matmul(phi, g, n, n, n)
                            for i in 0..<nn { r[i] -= pg[i] }
                            if let h { r = Linalg.matmul(r, h, n, n, n) }
                            for i in 0..<nn { phi[i] += eta * r[i] }
                        }
                        for i in 0..<n {
                            var v = 0.0
                            for j in 0..<n { v += phi[i * n + j] * s.state(b, t, j) }
                            o[(b * s.length + t - 1) * n + i] = v
                        }
                    }
                }
            }
        }
        return out
    }

    /// The step size with the lowest mean loss on `s` (a validation batch): the best of a
    /// log-spaced grid over [1e-4, 1], refined by golden-section search between its neighbours.
    /// The loss is not quadratic in η beyond one step, hence the search.
    public static func lineSearch(_ s: StateSequences, steps k: Int, preconditioner: Preconditioner = .identity) -> Double {
        let stats = InContextStatistics(s)
        func loss(_ eta: Double) -> Double {
            let l = s.loss(of: predictions(stats, s, steps: k, eta: eta, preconditioner: preconditioner))
            let m = l.reduce(0, +) / Double(l.count)
            return m.isFinite ? m : .infinity
        }
        return goldenSectionMinimum(loss, grid: (0...16).map { pow(10, -4 + Double($0) / 4) })
    }
}

/// The minimizer of `f` over the grid, refined by golden-section search between the grid's
/// neighbours of the best point (in log space).
func goldenSectionMinimum(_ f: (Double) -> Double, grid: [Double], iterations: Int = 24) -> Double {
    let values = grid.map(f)
    let best = values.indices.min { values[$0] < values[$1] }!
    var lo = log(grid[max(best - 1, 0)]), hi = log(grid[min(best + 1, grid.count - 1)])
    let r = (sqrt(5) - 1) / 2
    var x1 = hi - r * (hi - lo), x2 = lo + r * (hi - lo)
    var f1 = f(exp(x1)), f2 = f(exp(x2))
    for _ in 0..<iterations {
        if f1 < f2 {
            hi = x2; x2 = x1; f2 = f1
            x1 = hi - r * (hi - lo); f1 = f(exp(x1))
        } else {
            lo = x1; x1 = x2; f1 = f2
            x2 = lo + r * (hi - lo); f2 = f(exp(x2))
        }
    }
    let refined = exp((lo + hi) / 2)
    return f(refined) <= values[best] ? refined : grid[best]
}
