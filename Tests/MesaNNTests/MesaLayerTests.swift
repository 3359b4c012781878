import Testing
import MesaTensor
import MesaNN

/// The mesa-layer (SPEC §2) against the normal equations solved at every position, and its
/// backward against finite differences, at λ ∈ {0.1, 1, 100}.
@Suite struct MesaLayerTests {
    /// Queries and keys of unit-order norm, as a LayerNorm'd input projected by the layer gives.
    func inputs(batch: Int, length: Int, heads: Int, keySize: Int, valueSize: Int, seed: UInt64) -> (Tensor, Tensor, Tensor) {
        let scale = 1 / Double(keySize).squareRoot()
        return (randomTensor([batch, length, heads * keySize], seed: seed, std: scale),
                randomTensor([batch, length, heads * keySize], seed: seed + 1, std: scale),
                randomTensor([batch, length, heads * valueSize], seed: seed + 2))
    }

    @Test(arguments: [0.1, 1.0, 100.0])
    func forwardMatchesTheNormalEquations(lambda: Double) {
        let (q, k, v) = inputs(batch: 2, length: 50, heads: 2, keySize: 20, valueSize: 20, seed: 1)
        for gamma in [1.0, 0.9] {
            let ref = naiveMesaAttention(q: q, k: k, v: v, lambda: [lambda, lambda / 2], heads: 2, forget: gamma)
            let l = Tensor(shape: [2], [lambda, lambda / 2])
            let d = mesaAttentionForward(q: q, k: k, v: v, lambda: l, heads: 2, forget: gamma)
            let f = mesaAttentionForward(q: q.converted(to: .float32), k: k.converted(to: .float32),
                                         v: v.converted(to: .float32), lambda: l.converted(to: .float32), heads: 2, forget: gamma)
            #expect(d.relativeError(to: ref) < 1e-10)
            // Float32: ~1e-6 (λ ≤ 1) to 7e-6 (λ = 100) measured without forgetting; with γ = 0.9
            // the regularizer γ^t/λ shrinks and λ = 100 reaches 1.3e-4.
            #expect(f.relativeError(to: ref) < (gamma == 1 ? 2e-5 : 5e-4), "λ \(lambda) γ \(gamma)")
        }
    }

    @Test(arguments: [0.1, 1.0, 100.0])
    func backwardMatchesFiniteDifferences(lambda: Double) {
        let (q, k, v) = inputs(batch: 2, length: 7, heads: 2, keySize: 3, valueSize: 2, seed: 4)
        let l = Tensor(shape: [2], [lambda, 2 * lambda])
        let r = GradCheck.projection(for: v.shape)
        for gamma in [1.0, 0.8] {
            // λ = 100 leaves the loss flat in λ: a wider step keeps rounding out of the difference.
            let errors = GradCheck.relativeErrors([q, k, v, l], eps: 1e-5 * max(1, lambda / 10)) { x in
                dot(mesaAttention(x[0], x[1], x[2], lambda: x[3], heads: 2, forget: gamma), r)
            }
            for (i, e) in errors.enumerated() { #expect(e < 1e-6, "input \(i), γ \(gamma): \(e)") }
        }
    }

    /// Float32 gradients at the paper's size against the Double ones (which the previous
    /// test ties to finite differences).
    @Test(arguments: [0.1, 1.0, 100.0])
    func float32GradientsAreAccurate(lambda: Double) {
        let (q, k, v) = inputs(batch: 2, length: 50, heads: 2, keySize: 20, valueSize: 20, seed: 7)
        let l = Tensor(shape: [2], [lambda, lambda])
        let dOut = randomTensor(v.shape, seed: 10)
        let d = mesaAttentionBackward(dOut: dOut, q: q, k: k, v: v, lambda: l, heads: 2)
        let f = mesaAttentionBackward(dOut: dOut.converted(to: .float32), q: q.converted(to: .float32),
                                      k: k.converted(to: .float32), v: v.converted(to: .float32),
                                      lambda: l.converted(to: .float32), heads: 2)
        let errors = [f.dq.relativeError(to: d.dq), f.dk.relativeError(to: d.dk), f.dv.relativeError(to: d.dv),
                      f.dLambda.relativeError(to: d.dLambda)]
        // Measured: ≤ 7e-7 for λ ≤ 1; at λ = 100, 1.1e-4 for dk and ≤ 1e-5 for the others.
        for (i, e) in errors.enumerated() { #expect(e < 5e-4, "gradient \(i): \(e)") }
    }
}
