import MesaTensor

// The hypothesized mesa-optimizers of SPEC §4, in Double, as predictions ŝ_{t+1} for every
// position t of every sequence (arrays [B, T, n]); s_0 = 0. Each reads like its formula.

public enum Baselines {
    /// The direction of one gradient step on L_t(Φ) = ½ Σ_{t'≤t} ‖s_{t'} − Φ s_{t'−1}‖² from
    /// Φ = 0, applied to s_t: d_t = Σ_{t'≤t} s_{t'} (s_{t'−1}ᵀ s_t). GD-1 predicts η d_t.
    public static func gradientStepDirection(_ s: StateSequences) -> [Double] {
        let n = s.dimension
        var out = [Double](repeating: 0, count: s.inputs.count)
        var c = [Double](repeating: 0, count: n * n)  // C_t = Σ_{t'≤t} s_{t'} s_{t'−1}ᵀ
        for b in 0..<s.batch {
            for i in 0..<(n * n) { c[i] = 0 }
            for t in 1...s.length {
                for i in 0..<n { for j in 0..<n { c[i * n + j] += s.state(b, t, i) * s.state(b, t - 1, j) } }
                for i in 0..<n {
                    var d = 0.0
                    for j in 0..<n { d += c[i * n + j] * s.state(b, t, j) }
                    out[(b * s.length + t - 1) * n + i] = d
                }
            }
        }
        return out
    }

    /// The step size minimizing the mean loss of η·direction (exact line search, closed form):
    /// η* = Σ⟨d, y⟩ / Σ‖d‖².
    public static func lineSearch(direction d: [Double], targets y: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for i in 0..<d.count { num += d[i] * y[i]; den += d[i] * d[i] }
        return den > 0 ? num / den : 0
    }

    /// GD-1 predictions η d_t.
    public static func gdOne(_ s: StateSequences, eta: Double) -> [Double] {
        gradientStepDirection(s).map { eta * $0 }
    }

    /// GD-1 through the activation clip of the reference architecture (SPEC §2): a model on
    /// constructed tokens without a read-out reads its prediction from the first n coordinates of
    /// the residual stream after the block's clip, and the token leaves those coordinates at 0, so
    /// one layer computing GD-1 exactly would predict clip(0 + η d_t) = min(max(η d_t, −c), c),
    /// coordinate by coordinate.
    public static func gdOneClipped(_ s: StateSequences, eta: Double, clip c: Double) -> [Double] {
        clipped(gradientStepDirection(s), eta: eta, clip: c)
    }

    /// min(max(η d, −c), c) per coordinate.
    public static func clipped(_ d: [Double], eta: Double, clip c: Double) -> [Double] {
        d.map { Swift.min(Swift.max(eta * $0, -c), c) }
    }

    /// The step size minimizing Σ (clip(η d) − y)² (no closed form under the clip): the best of a grid of
    /// 81 points on [0, 4 `around`] (widened fourfold while the best is its last point), refined by
    /// golden-section search between its neighbours. Each term moves monotonically from y² towards
    /// (±c − y)² through one minimum as η grows, so the sum is smooth between the points where a
    /// coordinate reaches the clip.
    public static func clippedLineSearch(direction d: [Double], targets y: [Double], clip c: Double, around eta0: Double) -> Double {
        func loss(_ eta: Double) -> Double {
            var sum = 0.0
            for i in 0..<d.count { let r = Swift.min(Swift.max(eta * d[i], -c), c) - y[i]; sum += r * r }
            return sum
        }
        var top = 4 * Swift.max(abs(eta0), 1e-12)
        let points = 80
        var grid: [Double] = [], best = 0
        for _ in 0..<8 {
            grid = (0...points).map { top * Double($0) / Double(points) }
            let losses = grid.map(loss)
            best = losses.indices.min { losses[$0] < losses[$1] }!
            if best < points { break }
            top *= 4
        }
        var (a, b) = (grid[Swift.max(best - 1, 0)], grid[Swift.min(best + 1, points)])
        let ratio = (5.0.squareRoot() - 1) / 2
        var x1 = b - ratio * (b - a), x2 = a + ratio * (b - a)
        var f1 = loss(x1), f2 = loss(x2)
        for _ in 0..<60 where b - a > 1e-12 * top {
            if f1 < f2 { b = x2; x2 = x1; f2 = f1; x1 = b - ratio * (b - a); f1 = loss(x1) }
            else { a = x1; x1 = x2; f1 = f2; x2 = a + ratio * (b - a); f2 = loss(x2) }
        }
        let refined = (a + b) / 2
        return loss(refined) <= loss(grid[best]) ? refined : grid[best]
    }

    /// Ridge regression / least squares (LSQ): Φ̂_t = (Σ_{t'≤t} s_{t'} s_{t'−1}ᵀ)
    /// (Σ_{t'≤t} s_{t'−1} s_{t'−1}ᵀ + λI)⁻¹, ŝ_{t+1} = Φ̂_t s_t. What an ideal mesa-layer computes.
    public static func ridge(_ s: StateSequences, lambda: Double) -> [Double] {
        let n = s.dimension
        var out = [Double](repeating: 0, count: s.inputs.count)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forChunks(s.batch) { range in
                var a = [Double](repeating: 0, count: n * n)  // Σ s_{t'} s_{t'−1}ᵀ
                var g = [Double](repeating: 0, count: n * n)  // Σ s_{t'−1} s_{t'−1}ᵀ
                var st = [Double](repeating: 0, count: n)
                for b in range {
                    for i in 0..<(n * n) { a[i] = 0; g[i] = 0 }
                    for t in 1...s.length {
                        for i in 0..<n {
                            for j in 0..<n {
                                a[i * n + j] += s.state(b, t, i) * s.state(b, t - 1, j)
                                g[i * n + j] += s.state(b, t - 1, i) * s.state(b, t - 1, j)
                            }
                        }
                        var gl = g
                        for i in 0..<n { gl[i * n + i] += lambda; st[i] = s.state(b, t, i) }
                        // ŝ = A (G + λI)⁻¹ s_t
                        let x = Linalg.choleskySolve(gl, st, n, 1) ?? Linalg.solve(gl, st, n, 1)
                            ?? [Double](repeating: 0, count: n)
                        for i in 0..<n {
                            var v = 0.0
                            for j in 0..<n { v += a[i * n + j] * x[j] }
                            o[(b * s.length + t - 1) * n + i] = v  // rows of b: this chunk's alone
                        }
                    }
                }
            }
        }
        return out
    }

    /// The λ among `grid` with the lowest mean ridge loss on `s` (a validation batch).
    public static func ridgeLineSearch(_ s: StateSequences,
                                       grid: [Double] = [1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1, 3, 10]) -> Double {
        grid.min { mean(s.loss(of: ridge(s, lambda: $0))) < mean(s.loss(of: ridge(s, lambda: $1))) }!
    }

    static func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }
}
