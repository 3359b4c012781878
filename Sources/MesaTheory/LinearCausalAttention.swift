import Numerics

/// The one-layer linear causal self-attention of ZHENG.md §Model:
///
///     e_t = [x_t ; x_{t−1}] ∈ C^{2d} (x_0 = 0),   E_t = [e_1 … e_t],
///     ŷ_t = W^{PV} E_t E_tᴴ W^{KQ} e_t / (t − 1),   t = 2 … T−1,
///
/// the prediction of `x_{t+1}`, with `W^{KQ} ∈ C^{2d×2d}`, `W^{PV} ∈ C^{d×2d}` (row-major here), no
/// softmax and no residual. Token index p < d is `x_{t,p}`, p ≥ d is `x_{t−1,p−d}`; the d×d blocks of
/// the weights are named (row block, column block): block (2,1) of W^{KQ} scores the query `x_t` against
/// the key `x_{i−1}`, block (1,1) of W^{PV} reads out the value `x_i`.
public struct LinearCausalAttention: Equatable {
    public let dimension: Int
    /// W^{KQ}, (2d, 2d).
    public var keyQuery: [Complex<Double>]
    /// W^{PV}, (d, 2d).
    public var projectionValue: [Complex<Double>]

    public init(dimension d: Int, keyQuery: [Complex<Double>], projectionValue: [Complex<Double>]) throws {
        guard d >= 1, keyQuery.count == 4 * d * d, projectionValue.count == 2 * d * d else {
            throw TheoryError.invalid("W^{KQ} must hold (2d)² and W^{PV} d·2d values for d = \(d); got \(keyQuery.count) and \(projectionValue.count)")
        }
        dimension = d
        self.keyQuery = keyQuery
        self.projectionValue = projectionValue
    }

    /// The initialization of ZHENG.md §Training: `W^{KQ} = [[0,0],[a₀I,0]]`, `W^{PV} = [b₀I, 0]`,
    /// everything else exactly 0.
    public static func diagonal(dimension d: Int, a: Double, b: Double) throws -> LinearCausalAttention {
        guard a.isFinite, b.isFinite else { throw TheoryError.invalid("initial a₀ = \(a), b₀ = \(b) must be finite") }
        var kq = [Complex<Double>](repeating: .zero, count: 4 * d * d)
        var pv = [Complex<Double>](repeating: .zero, count: 2 * d * d)
        for j in 0..<d {
            kq[(d + j) * 2 * d + j] = Complex(a, 0)
            pv[j * 2 * d + j] = Complex(b, 0)
        }
        return try LinearCausalAttention(dimension: d, keyQuery: kq, projectionValue: pv)
    }

    /// Zeroes every entry off the diagonal of its d×d block ("masked non-diagonal gradients").
    public mutating func projectDiagonalBlocks() {
        let d = dimension
        for r in 0..<(2 * d) { for c in 0..<(2 * d) where r % d != c % d { keyQuery[r * 2 * d + c] = .zero } }
        for r in 0..<d { for c in 0..<(2 * d) where r != c % d { projectionValue[r * 2 * d + c] = .zero } }
    }

    /// a_j: the diagonal of block (2,1) of W^{KQ}.
    public var a: [Complex<Double>] { (0..<dimension).map { keyQuery[(dimension + $0) * 2 * dimension + $0] } }
    /// b_j: the diagonal of block (1,1) of W^{PV}.
    public var b: [Complex<Double>] { (0..<dimension).map { projectionValue[$0 * 2 * dimension + $0] } }
    /// a_j b_j, the per-coordinate step size of the one-step GD the model implements.
    public var products: [Complex<Double>] { zip(a, b).map { $0 * $1 } }
    /// `ab`: the mean over coordinates of Re(a_j b_j) (the entries are tied in expectation).
    public var ab: Double { products.map(\.real).reduce(0, +) / Double(dimension) }

    /// Largest modulus among entries off the diagonals of the d×d blocks.
    public var offDiagonalMax: Double {
        let d = dimension
        var m = 0.0
        for r in 0..<(2 * d) { for c in 0..<(2 * d) where r % d != c % d { m = max(m, keyQuery[r * 2 * d + c].length) } }
        for r in 0..<d { for c in 0..<(2 * d) where r != c % d { m = max(m, projectionValue[r * 2 * d + c].length) } }
        return m
    }

    /// Largest modulus among entries outside the two structured diagonals (a_j, b_j): off-diagonal
    /// entries and the diagonals of the blocks the initialization leaves at zero.
    public var outsideStructureMax: Double {
        let d = dimension
        var m = 0.0
        for r in 0..<(2 * d) { for c in 0..<(2 * d) where !(r == d + c && c < d) { m = max(m, keyQuery[r * 2 * d + c].length) } }
        for r in 0..<d { for c in 0..<(2 * d) where r != c { m = max(m, projectionValue[r * 2 * d + c].length) } }
        return m
    }

    /// Share of the squared Frobenius norm of both matrices that lies off the diagonals of the d×d blocks.
    public var offDiagonalShare: Double {
        let d = dimension
        var off = 0.0, total = 0.0
        for r in 0..<(2 * d) { for c in 0..<(2 * d) {
            let v = keyQuery[r * 2 * d + c].lengthSquared
            total += v
            if r % d != c % d { off += v }
        } }
        for r in 0..<d { for c in 0..<(2 * d) {
            let v = projectionValue[r * 2 * d + c].lengthSquared
            total += v
            if r != c % d { off += v }
        } }
        return total > 0 ? off / total : 0
    }

    /// Predictions for one sequence given as the rows `x_0 = 0, x_1, …, x_T` of a (T+1, d) matrix
    /// (`ARSequenceSet.tokens`): row t of the result is `ŷ_t` for t = 2 … T−1 and zero elsewhere.
    /// `E_t E_tᴴ = Σ_{i≤t} e_i e_iᴴ` is accumulated as t grows.
    public func predictions(tokens x: [Complex<Double>]) -> [Complex<Double>] {
        let d = dimension, n = 2 * d, T = x.count / d - 1
        var y = [Complex<Double>](repeating: .zero, count: (T + 1) * d)
        var gram = [Complex<Double>](repeating: .zero, count: n * n)  // E_t E_tᴴ
        var e = [Complex<Double>](repeating: .zero, count: n)
        var u = e, v = e
        for t in 1..<T {
            for j in 0..<d { e[j] = x[t * d + j]; e[d + j] = x[(t - 1) * d + j] }
            for p in 0..<n { for q in 0..<n { gram[p * n + q] += e[p] * e[q].conjugate } }
            guard t >= 2 else { continue }
            for p in 0..<n {
                u[p] = .zero
                for q in 0..<n { u[p] += keyQuery[p * n + q] * e[q] }
            }
            for p in 0..<n {
                v[p] = .zero
                for q in 0..<n { v[p] += gram[p * n + q] * u[q] }
            }
            for a in 0..<d {
                var ya = Complex<Double>.zero
                for q in 0..<n { ya += projectionValue[a * n + q] * v[q] }
                y[t * d + a] = ya.divided(by: Double(t - 1))
            }
        }
        return y
    }
}
