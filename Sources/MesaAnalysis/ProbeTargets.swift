import MesaTensor

/// What the probes of SPEC §5.4 try to read out of the residual stream at position t: past
/// tokens s_{t−j} (s_0 = s_{−1} = … = 0), the next token s_{t+1}, and the preconditioned
/// current token (S_{t−1}S_{t−1}ᵀ + λI)⁻¹ s_t with S_{t−1} = [s_1 … s_{t−1}] — what a
/// mesa-optimizer running (approximate) least squares needs before its last step.
public enum ProbeTarget: Equatable, Hashable, Sendable {
    case past(Int)
    case next
    case preconditioned(lambda: Double)

    /// The six targets of [VO]'s probing figure with the preconditioner's λ still open.
    public static let tokenTargets: [ProbeTarget] = [.past(0), .past(1), .past(2), .past(3), .next]

    /// A name fit for a file and a figure key.
    public var name: String {
        switch self {
        case .past(0): return "s_t"
        case let .past(j): return "s_t-\(j)"
        case .next: return "s_t+1"
        case .preconditioned: return "preconditioned"
        }
    }

    /// The target vector of every sequence and position: [B, T, n] row-major, t = 1…T at index t−1.
    public func values(_ s: StateSequences) -> [Double] {
        let (bSize, tLen, n) = (s.batch, s.length, s.dimension)
        switch self {
        case let .past(j):
            var out = [Double](repeating: 0, count: bSize * tLen * n)
            for b in 0..<bSize { for t in 1...tLen where t - j >= 1 { for i in 0..<n { out[(b * tLen + t - 1) * n + i] = s.state(b, t - j, i) } } }
            return out
        case .next:
            return s.targets
        case let .preconditioned(lambda):
            return Self.preconditioned(s, lambda: lambda)
        }
    }

    /// (Σ_{t'<t} s_{t'} s_{t'}ᵀ + λI)⁻¹ s_t for every sequence and position, by a running sum
    /// and one Cholesky solve per position.
    static func preconditioned(_ s: StateSequences, lambda: Double) -> [Double] {
        let (bSize, tLen, n) = (s.batch, s.length, s.dimension)
        var out = [Double](repeating: 0, count: bSize * tLen * n)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forChunks(bSize) { range in
                var g = [Double](repeating: 0, count: n * n)
                var st = [Double](repeating: 0, count: n)
                for b in range {
                    for i in 0..<(n * n) { g[i] = 0 }
                    for t in 1...tLen {
                        var a = g
                        for i in 0..<n { a[i * n + i] += lambda; st[i] = s.state(b, t, i) }
                        let x = Linalg.choleskySolve(a, st, n, 1) ?? [Double](repeating: .nan, count: n)
                        for i in 0..<n { o[(b * tLen + t - 1) * n + i] = x[i] }  // rows of b: this chunk's alone
                        for i in 0..<n { for j in 0..<n { g[i * n + j] += st[i] * st[j] } }
                    }
                }
            }
        }
        return out
    }
}
