import Testing
import MesaTensor
import MesaNN

/// The fused MLP sublayer against the composition down(gelu(up(x))), and its backward
/// against finite differences.
@Suite struct MLPKernelTests {
    @Test(arguments: [(3, 50, 12, 48), (2, 700, 5, 9), (1, 1, 4, 16)])
    func fusedMatchesComposed(_ sizes: (Int, Int, Int, Int)) {
        let (batch, length, width, hidden) = sizes
        for dtype in [DType.float64, .float32] {
            let x = randomTensor([batch, length, width], seed: 1, dtype: dtype)
            let up = randomTensor([hidden, width], seed: 2, dtype: dtype, std: 0.5)
            let down = randomTensor([width, hidden], seed: 3, dtype: dtype, std: 0.5)
            let r = randomTensor([batch, length, width], seed: 4, dtype: dtype)
            var results: [[Tensor]] = []
            for fused in [true, false] {
                let (xv, uv, dv) = (Variable(x, requiresGrad: true), Variable(up, requiresGrad: true),
                                    Variable(down, requiresGrad: true))
                let y = fused ? mlpSublayer(xv, up: uv, down: dv) : linear(gelu(linear(xv, uv)), dv)
                dot(y, r).backward()
                results.append([y.value, xv.grad!, uv.grad!, dv.grad!])
            }
            let tol = dtype == .float64 ? 1e-12 : 3e-5
            for (i, (a, b)) in zip(results[0], results[1]).enumerated() {
                #expect(a.relativeError(to: b) < tol, "\(sizes) \(dtype) output/gradient \(i): \(a.relativeError(to: b))")
            }
        }
    }

    @Test func backwardMatchesFiniteDifferences() {
        let x = randomTensor([2, 5, 4], seed: 5)
        let up = randomTensor([7, 4], seed: 6, std: 0.7)
        let down = randomTensor([4, 7], seed: 7, std: 0.7)
        let r = GradCheck.projection(for: [2, 5, 4])
        let errors = GradCheck.relativeErrors([x, up, down]) { v in dot(mlpSublayer(v[0], up: v[1], down: v[2]), r) }
        for (i, e) in errors.enumerated() { #expect(e < 1e-8, "input \(i): \(e)") }
    }
}
