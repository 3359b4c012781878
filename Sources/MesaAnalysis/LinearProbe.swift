import MesaTensor

/// A linear probe (SPEC §5.4): least squares without bias from activations x ∈ R^D to a
/// target y ∈ R^m, W = argmin Σ_i ‖y_i − Wᵀx_i‖² = (XᵀX)⁻¹ XᵀY, fitted on one set and scored
/// on another. Everything the fit needs is in two Gram matrices, so a set can be fed in chunks
/// (`add`) and never held whole: G = Σ x xᵀ [D, D], C = Σ x yᵀ [D, m], and for scores the
/// per-column Σ y and Σ y².
public struct ProbeGram {
    public let features: Int, outputs: Int
    public private(set) var gram: [Double]       // G = XᵀX [D, D]
    public private(set) var cross: [Double]      // C = XᵀY [D, m]
    public private(set) var sum: [Double]        // Σ y [m]
    public private(set) var sumOfSquares: [Double]  // Σ y² [m]
    public private(set) var count = 0

    public init(features: Int, outputs: Int) {
        self.features = features
        self.outputs = outputs
        gram = [Double](repeating: 0, count: features * features)
        cross = [Double](repeating: 0, count: features * outputs)
        sum = [Double](repeating: 0, count: outputs)
        sumOfSquares = sum
    }

    /// Adds rows: x [N, D], y [N, m] (Double, 2-D).
    public mutating func add(_ x: Tensor, _ y: Tensor) {
        precondition(x.shape == [x.shape[0], features] && y.shape == [x.shape[0], outputs], "probe rows do not match")
        x.withUnsafeBufferPointer(as: Double.self) { xp in
            y.withUnsafeBufferPointer(as: Double.self) { yp in
                add(rows: x.shape[0], x: xp.baseAddress!, xStride: features, y: yp.baseAddress!, yStride: outputs)
            }
        }
    }

    /// Adds `rows` rows read in place: row r of x at x + r·xStride (D values), of y at y + r·yStride
    /// (m values). A strided view reads position p of a [B, T, D] activation without copying it
    /// out; BLAS accumulates straight into G and C (β = 1).
    public mutating func add(rows: Int, x: UnsafePointer<Double>, xStride: Int, y: UnsafePointer<Double>, yStride: Int) {
        guard rows > 0 else { return }
        let (d, m) = (features, outputs)
        gram.withUnsafeMutableBufferPointer { g in
            Double.gemm(transA: true, transB: false, m: d, n: d, k: rows, alpha: 1, a: x, lda: xStride, b: x, ldb: xStride,
                        beta: 1, c: g.baseAddress!, ldc: d)                                  // G += XᵀX [D, D]
        }
        cross.withUnsafeMutableBufferPointer { c in
            Double.gemm(transA: true, transB: false, m: d, n: m, k: rows, alpha: 1, a: x, lda: xStride, b: y, ldb: yStride,
                        beta: 1, c: c.baseAddress!, ldc: m)                                  // C += XᵀY [D, m]
        }
        // Raw buffers: indexing the arrays themselves checks their uniqueness at every element.
        sum.withUnsafeMutableBufferPointer { s in
            sumOfSquares.withUnsafeMutableBufferPointer { ss in
                for r in 0..<rows { for j in 0..<m { let v = y[r * yStride + j]; s[j] += v; ss[j] += v * v } }
            }
        }
        count += rows
    }

    /// Σ (y − ȳ)² per column.
    public var totalSquares: [Double] {
        (0..<outputs).map { j in max(sumOfSquares[j] - sum[j] * sum[j] / Double(max(count, 1)), 0) }
    }

    /// The least-squares weights W [D, m] (G W = C). A rank-deficient G gets a jitter of
    /// 1e-10·tr(G)/D on its diagonal: the minimum-norm solution, to that precision. G counts as
    /// rank-deficient when some feature's variance given the features before it (a Cholesky pivot)
    /// is below that jitter: a feature that is always zero (the first position), an embedding of n
    /// states into D > n coordinates, or such a site computed in Float32, whose rounding noise in
    /// the missing directions (~1e-14 of the variance) would otherwise be fitted as if it were signal.
    public func solve() -> [Double] {
        let d = features
        let jitter = max((0..<d).reduce(0) { $0 + gram[$1 * d + $1] } / Double(d), 1e-300) * 1e-10
        if Self.smallestPivot(gram, d) > jitter, let w = Linalg.choleskySolve(gram, cross, d, outputs) { return w }
        var g = gram
        for i in 0..<d { g[i * d + i] += jitter }
        return Linalg.choleskySolve(g, cross, d, outputs) ?? Linalg.solve(g, cross, d, outputs)
            ?? [Double](repeating: 0, count: d * outputs)
    }

    /// The smallest Cholesky pivot of the symmetric G [d, d] (each feature's squared residual given
    /// those before it); −∞ once a pivot is not positive.
    static func smallestPivot(_ g: [Double], _ d: Int) -> Double {
        var l = [Double](repeating: 0, count: d * d), smallest = Double.infinity
        for i in 0..<d {
            for j in 0...i {
                var s = g[i * d + j]
                for p in 0..<j { s -= l[i * d + p] * l[j * d + p] }
                if i == j {
                    guard s > 0 else { return -.infinity }
                    smallest = min(smallest, s)
                    l[i * d + i] = s.squareRoot()
                } else {
                    l[i * d + j] = s / l[j * d + j]
                }
            }
        }
        return smallest
    }

    /// Residual sum of squares of W on the rows this Gram was built from, per column:
    /// Σ‖y − Wᵀx‖² = Σy² − 2 wᵀc + wᵀ G w (in-sample, for choosing λ without the score set).
    public func residualSquares(_ w: [Double]) -> [Double] {
        let d = features, m = outputs
        var gw = [Double](repeating: 0, count: d * m)                                  // G W [D, m]
        gram.withUnsafeBufferPointer { g in
            w.withUnsafeBufferPointer { wp in
                gw.withUnsafeMutableBufferPointer { out in
                    Double.gemm(transA: false, transB: false, m: d, n: m, k: d, alpha: 1, a: g.baseAddress!, lda: d,
                                b: wp.baseAddress!, ldb: m, beta: 0, c: out.baseAddress!, ldc: m)
                }
            }
        }
        var cw = [Double](repeating: 0, count: m), wgw = cw
        for a in 0..<d { for j in 0..<m { cw[j] += w[a * m + j] * cross[a * m + j]; wgw[j] += w[a * m + j] * gw[a * m + j] } }
        return (0..<m).map { j in max(sumOfSquares[j] - 2 * cw[j] + wgw[j], 0) }
    }
}

/// Scores of fitted probes on a second set, accumulated chunk by chunk from the residuals
/// themselves (no Gram cancellation: R² of 1 − 1e-12 stays visible).
public struct ProbeScore {
    public let outputs: Int
    public private(set) var residualSquares: [Double]
    public private(set) var sum: [Double], sumOfSquares: [Double]
    public private(set) var count = 0

    public init(outputs: Int) {
        self.outputs = outputs
        residualSquares = [Double](repeating: 0, count: outputs)
        sum = residualSquares
        sumOfSquares = residualSquares
    }

    /// Adds rows x [N, D], y [N, m] scored by W [D, m].
    public mutating func add(_ x: Tensor, _ y: Tensor, weights w: [Double]) {
        x.withUnsafeBufferPointer(as: Double.self) { xp in
            y.withUnsafeBufferPointer(as: Double.self) { yp in
                add(rows: x.shape[0], features: x.shape[1], x: xp.baseAddress!, xStride: x.shape[1],
                    y: yp.baseAddress!, yStride: outputs, weights: w)
            }
        }
    }

    /// Adds `rows` strided rows (as `ProbeGram.add(rows:…)`) scored by W [D, m]: the residuals
    /// y − Wᵀx themselves are summed, one BLAS product for the predictions.
    public mutating func add(rows: Int, features d: Int, x: UnsafePointer<Double>, xStride: Int,
                             y: UnsafePointer<Double>, yStride: Int, weights w: [Double]) {
        guard rows > 0 else { return }
        let m = outputs
        var prediction = [Double](repeating: 0, count: rows * m)                        // X W [N, m]
        w.withUnsafeBufferPointer { wp in
            prediction.withUnsafeMutableBufferPointer { out in
                Double.gemm(transA: false, transB: false, m: rows, n: m, k: d, alpha: 1, a: x, lda: xStride,
                            b: wp.baseAddress!, ldb: m, beta: 0, c: out.baseAddress!, ldc: m)
            }
        }
        // Raw buffers: indexing the arrays themselves checks their uniqueness at every element.
        residualSquares.withUnsafeMutableBufferPointer { rs in
            sum.withUnsafeMutableBufferPointer { s in
                sumOfSquares.withUnsafeMutableBufferPointer { ss in
                    prediction.withUnsafeBufferPointer { pr in
                        for r in 0..<rows {
                            for j in 0..<m {
                                let v = y[r * yStride + j], e = v - pr[r * m + j]
                                rs[j] += e * e
                                s[j] += v
                                ss[j] += v * v
                            }
                        }
                    }
                }
            }
        }
        count += rows
    }

    public var totalSquares: [Double] {
        (0..<outputs).map { j in max(sumOfSquares[j] - sum[j] * sum[j] / Double(max(count, 1)), 0) }
    }

    /// R² = 1 − Σ RSS / Σ TSS over the columns `block` (one target vector); NaN when the target
    /// does not vary (s_{t−3} at t ≤ 3 is always 0).
    public func r2(_ block: Range<Int>) -> Double {
        ProbeScore.r2(rss: block.reduce(0) { $0 + residualSquares[$1] }, tss: block.reduce(0) { $0 + totalSquares[$1] })
    }

    /// Mean squared error per element over the columns `block`.
    public func mse(_ block: Range<Int>) -> Double {
        block.reduce(0) { $0 + residualSquares[$1] } / Double(max(count * block.count, 1))
    }

    static func r2(rss: Double, tss: Double) -> Double {
        tss > 0 ? 1 - rss / tss : .nan
    }
}
