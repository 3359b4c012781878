import Testing
import MesaTensor

/// Every differentiable operation of the engine against central finite differences (Double).
@Suite struct GradientTests {
    let tol = 1e-7

    func check(_ inputs: [Tensor], _ f: @escaping ([Variable]) -> Variable) {
        let errors = GradCheck.relativeErrors(inputs, f)
        for (i, e) in errors.enumerated() { #expect(e < tol, "input \(i): relative error \(e)") }
    }

    @Test func linearAndMatmul() {
        let x = randomTensor([3, 4, 5], seed: 1), w = randomTensor([6, 5], seed: 2)
        let r = GradCheck.projection(for: [3, 4, 6])
        check([x, w]) { v in dot(linear(v[0], v[1]), r) }
        let a = randomTensor([2, 3, 4], seed: 3), b = randomTensor([2, 4, 5], seed: 4)
        let r2 = GradCheck.projection(for: [2, 3, 5])
        check([a, b]) { v in dot(matmul(v[0], v[1]), r2) }
    }

    @Test func elementwise() {
        let x = randomTensor([4, 6], seed: 5), y = randomTensor([4, 6], seed: 6)
        let r = GradCheck.projection(for: [4, 6])
        check([x, y]) { v in dot(v[0] * v[1] + v[0] - 0.5 * v[1], r) }
        check([x]) { v in dot(gelu(v[0]), r) }
        // Clipping: keep inputs away from ±c where the derivative jumps.
        let z = x.map { abs(abs($0) - 0.8) < 0.05 ? $0 + 0.2 : $0 }
        check([z]) { v in dot(clip(v[0], 0.8), r) }
        // The residual add fused with the clip: keep the sums away from ±c.
        let w = zip(x.doubles, y.doubles).map { a, b in abs(abs(a + b) - 0.8) < 0.05 ? b + 0.2 : b }
        check([x, Tensor(shape: [4, 6], w)]) { v in dot(addClipped(v[0], v[1], 0.8), r) }
    }

    /// clip(a + b) in one pass is `clip(a + b, c)` bit for bit (Float32 and Float64), and its backward,
    /// which reads the clipped output, is `clipBackward(g, a + b)` bit for bit: sums below, at and above
    /// ±c, ±∞ and NaN, on a tensor large enough to be split across workers.
    @Test(arguments: [DType.float32, .float64])
    func addClippedIsAddThenClip(dtype: DType) {
        let n = 300_000, c = 0.8
        var a = (0..<n).map { Double(($0 * 7919) % 2001) / 1000 - 1 }, b = (0..<n).map { Double(($0 * 104_729) % 1601) / 1000 - 0.8 }
        a[0] = 0.8; b[0] = 0           // exactly c
        a[1] = -0.3; b[1] = -0.5       // exactly −c
        a[2] = .infinity; a[3] = -.infinity; a[4] = .nan; b[5] = .nan
        let (at, bt) = (Tensor(shape: [n], a).converted(to: dtype), Tensor(shape: [n], b).converted(to: dtype))
        let g = randomTensor([n], seed: 21).converted(to: dtype)
        func bytes(_ t: Tensor) -> [UInt64] { t.doubles.map(\.bitPattern) }
        #expect(bytes(addClipped(at, bt, c)) == bytes(clip(at + bt, c)))
        let av = Variable(at, requiresGrad: true), bv = Variable(bt, requiresGrad: true)
        dot(addClipped(av, bv, c), g).backward()
        let expected = bytes(clipBackward(g, at + bt, c))
        #expect(bytes(av.grad!) == expected && bytes(bv.grad!) == expected)
        // The boundary and the specials get no gradient; values inside do.
        #expect(av.grad!.doubles[0..<6].allSatisfy { $0 == 0 } && av.grad!.doubles.contains { $0 != 0 })
    }

    @Test func bias() {
        let x = randomTensor([3, 5, 4], seed: 13), b = randomTensor([4], seed: 14)
        let r = GradCheck.projection(for: [3, 5, 4])
        check([x, b]) { v in dot(addBias(v[0], v[1]), r) }
    }

    @Test func columnsConcatReshape() {
        let x = randomTensor([2, 3, 7], seed: 7), y = randomTensor([2, 3, 2], seed: 8)
        let r = GradCheck.projection(for: [2, 3, 5])
        check([x, y]) { v in dot(concatColumns([columns(v[0], 2..<5), v[1]]), r) }
        let r2 = GradCheck.projection(for: [6, 7])
        check([x]) { v in dot(reshaped(v[0], [6, 7]), r2) }
        check([x]) { v in sum(v[0] * v[0]) }
    }

    @Test func loss() {
        let p = randomTensor([2, 5, 3], seed: 9), t = randomTensor([2, 5, 3], seed: 10)
        check([p]) { v in halfSquaredError(v[0], t) }
        let w = Tensor(shape: [2, 5], [0.0, 1, 0, 1, 1, 0, 0, 0, 1, 1])
        check([p]) { v in halfSquaredError(v[0], t, weights: w) }
        // Value: ½ Σ (p−t)² / (B·T).
        let ref = zip(p.doubles, t.doubles).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 20
        #expect(abs(halfSquaredError(Variable(p), t).value.item - ref) < 1e-14)
    }

    @Test func sharedInputsAccumulate() {
        // x used three times: gradients from every use add up.
        let x = randomTensor([3, 3], seed: 11)
        check([x]) { v in sum(matmul(v[0], v[0]) * v[0]) }
    }
}

@Suite struct GradCheckSelfTest {
    /// The checker itself must catch a wrong backward: y = 2x with a pullback of 3g.
    @Test func detectsAWrongPullback() {
        let x = randomTensor([5], seed: 12)
        let errors = GradCheck.relativeErrors([x]) { v in
            sum(Variable(2 * v[0].value, inputs: [v[0]]) { g in [3 * g] })
        }
        #expect(errors[0] > 0.4)
    }
}
