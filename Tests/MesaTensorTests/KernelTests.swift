import Foundation
import Testing
import MesaTensor

/// Plain triple loop: the reference every BLAS-backed product is held to.
func naiveMatmul(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
    return c
}

func randomTensor(_ shape: [Int], seed: UInt64, dtype: DType = .float64, std: Double = 1) -> Tensor {
    var s = RandomStream(seed: seed, purpose: .experiment)
    return Tensor.normal(shape: shape, std: std, dtype: dtype, stream: &s)
}

@Suite struct KernelTests {
    @Test(arguments: [DType.float32, .float64])
    func linearMatchesNaive(dtype: DType) {
        // 700 rows: split over threads and into the four reduction parts.
        let x = randomTensor([7, 100, 13], seed: 1, dtype: dtype)
        let w = randomTensor([5, 13], seed: 2, dtype: dtype)
        let tol = dtype == .float32 ? 1e-5 : 1e-12
        let y = linear(x, w)
        #expect(y.shape == [7, 100, 5])
        let ref = naiveMatmul(x.doubles, transpose(w).doubles, m: 700, k: 13, n: 5)
        #expect(y.relativeError(to: Tensor(shape: [7, 100, 5], ref)) < tol)
        let dy = randomTensor([7, 100, 5], seed: 3, dtype: dtype)
        let dx = linearBackwardInput(dy, w)
        #expect(dx.relativeError(to: Tensor(shape: [7, 100, 13], naiveMatmul(dy.doubles, w.doubles, m: 700, k: 5, n: 13))) < tol)
        let dw = linearBackwardWeight(dy, x)
        let dyT = transpose(dy.reshaped([700, 5]))
        #expect(dw.relativeError(to: Tensor(shape: [5, 13], naiveMatmul(dyT.doubles, x.doubles, m: 5, k: 700, n: 13))) < tol)
    }

    @Test func matmulTransposesAndBatches() {
        let a = randomTensor([3, 4, 6], seed: 4), b = randomTensor([3, 5, 6], seed: 5)
        let c = matmul(a, b, transposeB: true)
        #expect(c.shape == [3, 4, 5])
        for i in 0..<3 {
            let ai = Array(a.doubles[(i * 24)..<((i + 1) * 24)])
            let bi = transpose(Tensor(shape: [5, 6], Array(b.doubles[(i * 30)..<((i + 1) * 30)]))).doubles
            let ref = naiveMatmul(ai, bi, m: 4, k: 6, n: 5)
            #expect(zip(c.doubles[(i * 20)..<((i + 1) * 20)], ref).allSatisfy { abs($0 - $1) < 1e-12 })
        }
        let d = matmul(transpose(a.reshaped([12, 6])), b.reshaped([15, 6]).reshaped([15, 6]), transposeA: true, transposeB: true)
        #expect(d.relativeError(to: matmul(a.reshaped([12, 6]), b.reshaped([15, 6]), transposeB: true)) < 1e-14)
    }

    /// linearBackwardWeight sums `reductionParts` fixed partial products, whatever the number of
    /// workers: the same bits on one, two and three.
    @Test func threadCountDoesNotChangeResults() {
        let x = randomTensor([1000, 9], seed: 6, dtype: .float32)
        let dy = randomTensor([1000, 4], seed: 7, dtype: .float32)
        let results = [1, 2, 3].map { n in
            Parallel.withWorkers(n) { () -> [Double] in
                #expect(Parallel.workers == n)
                return linearBackwardWeight(dy, x).doubles
            }
        }
        #expect(results[0] == results[1] && results[0] == results[2])
    }

    @Test func elementwiseKernels() {
        let x = Tensor(shape: [5], [-3.0, -0.5, 0, 0.7, 2])
        #expect(clip(x, 1).doubles == [-1, -0.5, 0, 0.7, 1])
        #expect(clipBackward(Tensor(shape: [5], repeating: 2, dtype: .float64), x, 1).doubles == [0, 2, 2, 2, 0])
        let g = gelu(x).doubles
        for (v, gv) in zip(x.doubles, g) {
            let ref = 0.5 * v * (1 + tanh(sqrt(2 / Double.pi) * (v + 0.044715 * v * v * v)))
            #expect(abs(gv - ref) < 1e-14)
        }
        #expect((x + x).doubles == x.doubles.map { 2 * $0 })
        #expect(abs(x.sumOfSquares() - x.doubles.map { $0 * $0 }.reduce(0, +)) < 1e-14)
        let cols = columns(Tensor(shape: [2, 3], [1.0, 2, 3, 4, 5, 6]), 1..<3)
        #expect(cols.doubles == [2, 3, 5, 6])
        #expect(concatColumns([cols, cols]).doubles == [2, 3, 2, 3, 5, 6, 5, 6])
        #expect(placeColumns(cols, width: 4, at: 2..<4).doubles == [0, 0, 2, 3, 0, 0, 5, 6])
    }

    @Test func tensorBasics() {
        let t = Tensor(shape: [2, 3], [1.0, 2, 3, 4, 5, 6])
        #expect(t[1, 2] == 6)
        #expect(t.reshaped([3, -1]).shape == [3, 2])
        #expect(t.converted(to: .float32).converted(to: .float64).doubles == t.doubles)
        var u = t
        u.addScaled(t, 2)  // copy on write: t is unchanged
        #expect(t.doubles == [1, 2, 3, 4, 5, 6])
        #expect(u.doubles == [3, 6, 9, 12, 15, 18])
    }
}

/// `columns` and its adjoint `placeColumns` on tensors large enough to be split across workers,
/// with a range in the middle (zeros on both sides of the placed block), against the definitions.
@Suite struct ColumnSliceTests {
    @Test(arguments: [DType.float32, .float64])
    func largeTensorsAreTheDefinition(dtype: DType) {
        let (rows, width, range) = (5000, 13, 4..<9)
        let x = Tensor(shape: [10, rows / 10, width], (0..<(rows * width)).map { Double($0 % 1009) - 500.25 }).converted(to: dtype)
        let xs = x.doubles
        let sliced = columns(x, range)
        #expect(sliced.shape == [10, rows / 10, range.count] && sliced.dtype == dtype)
        var expectedSlice = [Double](), expectedPlaced = [Double]()
        for r in 0..<rows {
            for c in 0..<width {
                let v = xs[r * width + c]
                if range.contains(c) { expectedSlice.append(v) }
                expectedPlaced.append(range.contains(c) ? v : 0)
            }
        }
        #expect(sliced.doubles == expectedSlice)
        let placed = placeColumns(sliced, width: width, at: range)
        #expect(placed.shape == x.shape)
        #expect(placed.doubles == expectedPlaced)
    }
}
