import MesaTensor

extension Baselines {
    /// Least squares on a window of the last k observations (SPEC §1 task 2, §4): with the window
    /// z_t = [s_t; s_{t−1}; …; s_{t−k+1}] ∈ R^{kn} (s_{≤0} = 0),
    ///     Φ̂_t = (Σ_{t'≤t} s_{t'} z_{t'−1}ᵀ) (Σ_{t'≤t} z_{t'−1} z_{t'−1}ᵀ + λI)⁻¹,   ŝ_{t+1} = Φ̂_t z_t.
    /// k = 1 is `ridge`. A partially observed system whose hidden state has size m is predicted
    /// exactly (without noise) from k ≥ m/n observations, which one observation cannot do.
    /// `fits(t')`, when given, keeps only the transitions z_{t'−1} → s_{t'} (t' = 1…T) for which it
    /// is true (few-shot regression fits on the x → y pairs alone). Predictions [B, T, n].
    public static func windowedRidge(_ s: StateSequences, window k: Int, lambda: Double,
                                     fits: (@Sendable (Int) -> Bool)? = nil) -> [Double] {
        precondition(k >= 1, "windowedRidge: the window must hold at least one observation, got \(k)")
        let n = s.dimension, d = k * n
        var out = [Double](repeating: 0, count: s.inputs.count)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forChunks(s.batch) { range in
                var a = [Double](repeating: 0, count: n * d)  // Σ s_{t'} z_{t'−1}ᵀ
                var g = [Double](repeating: 0, count: d * d)  // Σ z_{t'−1} z_{t'−1}ᵀ
                var zPrev = [Double](repeating: 0, count: d), z = zPrev
                for b in range {
                    for i in 0..<(n * d) { a[i] = 0 }
                    for i in 0..<(d * d) { g[i] = 0 }
                    for t in 1...s.length {
                        for lag in 0..<k {  // z_{t−1} and z_t
                            for i in 0..<n {
                                zPrev[lag * n + i] = t - 1 - lag >= 1 ? s.state(b, t - 1 - lag, i) : 0
                                z[lag * n + i] = t - lag >= 1 ? s.state(b, t - lag, i) : 0
                            }
                        }
                        if fits?(t) ?? true {
                            for i in 0..<n { for j in 0..<d { a[i * d + j] += s.state(b, t, i) * zPrev[j] } }
                            for i in 0..<d { for j in 0..<d { g[i * d + j] += zPrev[i] * zPrev[j] } }
                        }
                        var gl = g
                        for i in 0..<d { gl[i * d + i] += lambda }
                        // ŝ = A (G + λI)⁻¹ z_t
                        let x = Linalg.choleskySolve(gl, z, d, 1) ?? Linalg.solve(gl, z, d, 1)
                            ?? [Double](repeating: 0, count: d)
                        for i in 0..<n {
                            var v = 0.0
                            for j in 0..<d { v += a[i * d + j] * x[j] }
                            o[(b * s.length + t - 1) * n + i] = v  // rows of b: this chunk's alone
                        }
                    }
                }
            }
        }
        return out
    }
}
