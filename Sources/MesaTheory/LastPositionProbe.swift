import MesaTensor
import Numerics

/// The model on held-out sequences at the last position t = T−1 (ZHENG.md item 2), cheap enough to
/// measure after every training step: `E_{T−1}E_{T−1}ᴴ`, `e_{T−1}` and `x_T` depend on the data alone and
/// are computed once, so a prediction `ŷ = W^{PV} (E E ᴴ) W^{KQ} e / (T−2)` costs three small products.
public struct LastPositionProbe {
    public struct Metrics: Codable, Equatable {
        /// `E‖ŷ_{T−1} − x_T‖²`.
        public var testError: Double
        /// `E Re(ŷ_{T−1,j} / x_{T,j})` over the coordinates where `x_{T,j} ≠ 0`.
        public var ratio: Double
        /// `(Σ‖ŷ − ŷ^{GD}‖² / Σ‖ŷ^{GD}‖²)^{1/2}` against the one-step GD predictor with the given step size.
        public var gdGap: Double
    }

    public let dimension: Int
    public let length: Int
    public let count: Int
    private let gram: [Complex<Double>]    // (count, 2d, 2d)
    private let token: [Complex<Double>]   // (count, 2d): e_{T−1}
    private let target: [Complex<Double>]  // (count, d): x_T

    public init(_ data: ARSequenceSet) {
        let d = data.process.dimension, n = 2 * d, T = data.process.length
        dimension = d
        length = T
        count = data.count
        var gram = [Complex<Double>](repeating: .zero, count: data.count * n * n)
        var token = [Complex<Double>](repeating: .zero, count: data.count * n)
        var target = [Complex<Double>](repeating: .zero, count: data.count * d)
        gram.withUnsafeMutableBufferPointer { g in
            token.withUnsafeMutableBufferPointer { e in
                target.withUnsafeMutableBufferPointer { y in
                    Parallel.forChunks(data.count) { range in
                        for seq in range {
                            let x = data.tokens(seq)
                            for t in 1..<T {
                                for p in 0..<n {
                                    let ep = p < d ? x[t * d + p] : x[(t - 1) * d + p - d]
                                    for q in 0..<n {
                                        let eq = q < d ? x[t * d + q] : x[(t - 1) * d + q - d]
                                        g[seq * n * n + p * n + q] += ep * eq.conjugate
                                    }
                                }
                            }
                            for j in 0..<d {
                                e[seq * n + j] = x[(T - 1) * d + j]
                                e[seq * n + d + j] = x[(T - 2) * d + j]
                                y[seq * d + j] = x[T * d + j]
                            }
                        }
                    }
                }
            }
        }
        self.gram = gram
        self.token = token
        self.target = target
    }

    /// The metrics of `model`, with `ŷ^{GD} = (s/(T−2)) S12 x_{T−1}` for `s = gdStepSize`
    /// (S12 = block (1,2) of `E_{T−1}E_{T−1}ᴴ` = `Σ_{i<T−1} x_{i+1} x_iᴴ`). Sums run over
    /// `Parallel.reductionParts` fixed parts: the same bits for any number of threads.
    public func metrics(_ model: LinearCausalAttention, gdStepSize s: Double) -> Metrics {
        let d = dimension, n = 2 * d
        let scale = 1 / Double(length - 2)
        let parts = Parallel.split(count, parts: Parallel.reductionParts)
        // error, ratio sum, ratio count, gap², GD norm²
        var partial = [[Double]](repeating: [0, 0, 0, 0, 0], count: parts.count)
        partial.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(parts.count) { part in
                var sums = [Double](repeating: 0, count: 5)
                var u = [Complex<Double>](repeating: .zero, count: n), v = u
                for seq in parts[part] {
                    for p in 0..<n {
                        u[p] = .zero
                        for q in 0..<n { u[p] += model.keyQuery[p * n + q] * token[seq * n + q] }
                    }
                    for p in 0..<n {
                        v[p] = .zero
                        for q in 0..<n { v[p] += gram[seq * n * n + p * n + q] * u[q] }
                    }
                    for a in 0..<d {
                        var y = Complex<Double>.zero, gd = Complex<Double>.zero
                        for q in 0..<n { y += model.projectionValue[a * n + q] * v[q] }
                        for c in 0..<d { gd += gram[seq * n * n + a * n + d + c] * token[seq * n + c] }
                        y = y.multiplied(by: scale)
                        gd = gd.multiplied(by: s * scale)
                        let x = target[seq * d + a]
                        sums[0] += (y - x).lengthSquared
                        if x != .zero {
                            sums[1] += (y / x).real
                            sums[2] += 1
                        }
                        sums[3] += (y - gd).lengthSquared
                        sums[4] += gd.lengthSquared
                    }
                }
                out[part] = sums
            }
        }
        var total = [Double](repeating: 0, count: 5)
        for p in partial { for i in 0..<5 { total[i] += p[i] } }
        return Metrics(testError: total[0] / Double(count), ratio: total[2] > 0 ? total[1] / total[2] : .nan,
                       gdGap: (total[3] / total[4]).squareRoot())
    }
}
