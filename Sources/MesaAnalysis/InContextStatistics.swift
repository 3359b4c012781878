import MesaTensor

/// The sufficient statistics of the in-context least-squares objective (SPEC intro, §4)
/// L_t(Φ) = ½ Σ_{t'≤t} ‖s_{t'} − Φ s_{t'−1}‖² at every position t of every sequence:
///
///     A_t = Σ_{t'≤t} s_{t'} s_{t'−1}ᵀ,   G_t = Σ_{t'≤t} s_{t'−1} s_{t'−1}ᵀ,   ∇L_t(Φ) = Φ G_t − A_t
///
/// (n×n each, row-major, s_0 = 0). The multi-step baselines iterate on these.
public struct InContextStatistics {
    public let batch: Int, length: Int, dimension: Int
    /// [B·T, n, n]: A_t and G_t of sequence b at position t in slot b·T + t − 1.
    public let cross: [Double]
    public let gram: [Double]

    public init(_ s: StateSequences) {
        let n = s.dimension, nn = n * n
        batch = s.batch
        length = s.length
        dimension = n
        var a = [Double](repeating: 0, count: s.batch * s.length * nn), g = a
        for b in 0..<s.batch {
            for t in 1...s.length {
                let slot = (b * s.length + t - 1) * nn
                for i in 0..<n {
                    for j in 0..<n {
                        let previousA = t > 1 ? a[slot - nn + i * n + j] : 0
                        let previousG = t > 1 ? g[slot - nn + i * n + j] : 0
                        a[slot + i * n + j] = previousA + s.state(b, t, i) * s.state(b, t - 1, j)
                        g[slot + i * n + j] = previousG + s.state(b, t - 1, i) * s.state(b, t - 1, j)
                    }
                }
            }
        }
        cross = a
        gram = g
    }

    /// The slot of (b, t), t = 1…T.
    @inline(__always) public func slot(_ b: Int, _ t: Int) -> Int { b * length + t - 1 }
}
