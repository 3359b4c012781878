import Testing
import MesaTensor

/// The held-out loss summed a few sequences at a time (issue 14) must be the bits of the loss of
/// the whole batch: the accumulators against `sumOfSquares()` and `halfSquaredError`, piece
/// sizes that do and do not end on a group of four.
@Suite struct HalfSquaredErrorSumTests {
    static func pieces(_ x: Tensor, rowsPerPiece: [Int]) -> [Tensor] {
        let cols = x.shape.count > 1 ? x.shape.last! : 1
        let values = x.doubles
        var out: [Tensor] = [], row = 0, k = 0
        let rows = x.count / cols
        while row < rows {
            let n = min(rowsPerPiece[k % rowsPerPiece.count], rows - row)
            out.append(Tensor(shape: [n, cols], Array(values[(row * cols)..<((row + n) * cols)]), dtype: x.dtype))
            row += n
            k += 1
        }
        return out
    }

    @Test(arguments: [DType.float32, .float64])
    func squaresInPiecesAreTheSquaresOfTheWhole(dtype: DType) {
        var stream = RandomStream(seed: 3, purpose: .experiment)
        for (rows, cols) in [(37, 3), (16, 5), (9, 1), (1, 7)] {
            let x = Tensor.normal(shape: [rows, cols], std: 1.3, dtype: dtype, stream: &stream)
            let whole = x.sumOfSquares()
            let plain = x.doubles.reduce(0) { $0 + $1 * $1 }
            #expect(abs(whole - plain) <= 1e-12 * plain)              // a real sum of squares
            for split in [[1], [2], [3], [4], [5, 1, 2], [rows]] {
                var acc = SumOfSquaresAccumulator()
                for p in Self.pieces(x, rowsPerPiece: split) { acc.add(p) }
                #expect(acc.total.bitPattern == whole.bitPattern, "rows \(rows) cols \(cols) split \(split)")
            }
            var empty = SumOfSquaresAccumulator()
            empty.add(Tensor(zeros: [0, cols], dtype: dtype))
            for p in Self.pieces(x, rowsPerPiece: [3]) { empty.add(p); empty.add(Tensor(zeros: [0], dtype: dtype)) }
            #expect(empty.total.bitPattern == whole.bitPattern)
        }
    }

    @Test(arguments: [DType.float32, .float64])
    func lossInPiecesIsTheLossOfTheWhole(dtype: DType) {
        var stream = RandomStream(seed: 5, purpose: .experiment)
        let (b, t, n) = (7, 6, 3)
        let pred = Tensor.normal(shape: [b, t, n], std: 1, dtype: dtype, stream: &stream)
        let target = Tensor.normal(shape: [b, t, n], std: 1, dtype: dtype, stream: &stream)
        let mask = Tensor(shape: [b, t], (0..<(b * t)).map { $0 % 3 == 0 ? 0.0 : Double($0 % 5) }, dtype: dtype)
        for weights in [nil, mask] {
            let whole = halfSquaredError(Variable(pred), target, weights: weights).value.item
            // The loss itself, in Double from the definition (½ Σ_dims (p − y)², weighted mean over positions).
            let p = pred.doubles, y = target.doubles, w = weights?.doubles ?? Array(repeating: 1, count: b * t)
            var num = 0.0
            for r in 0..<(b * t) { for i in 0..<n { num += 0.5 * w[r] * (p[r * n + i] - y[r * n + i]) * (p[r * n + i] - y[r * n + i]) } }
            let reference = num / w.reduce(0, +)
            #expect(abs(whole - reference) <= (dtype == .float32 ? 1e-5 : 1e-12) * reference)
            for sequencesPerPiece in [1, 2, 3, 5, 7] {
                var acc = HalfSquaredErrorAccumulator(rows: b * t, dtype: dtype, weights: weights)
                for start in stride(from: 0, to: b, by: sequencesPerPiece) {
                    let m = min(sequencesPerPiece, b - start)
                    func rows(_ x: Tensor) -> Tensor {
                        Tensor(shape: [m, t, n], Array(x.doubles[(start * t * n)..<((start + m) * t * n)]), dtype: dtype)
                    }
                    acc.add(rows(pred), rows(target))
                }
                #expect(acc.value.bitPattern == whole.bitPattern, "weights \(weights != nil), \(sequencesPerPiece) per piece")
            }
        }
    }
}
