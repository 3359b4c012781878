import Testing
import MesaAnalysis
import MesaNN
import MesaTasks
import MesaTensor

/// Sensitivity (SPEC §5.7): the reverse-mode Jacobian norms match central differences, and a
/// causal model shows nothing above the diagonal.
@Suite struct SensitivityTests {
    func gaussian(_ shape: [Int], seed: UInt64) -> Tensor {
        var stream = RandomStream(seed: seed, purpose: .experiment, index: 0)
        return Tensor.normal(shape: shape, std: 1, dtype: .float64, stream: &stream)
    }

    /// E_b ‖∂f_t/∂s_{t'}‖_F by central differences on the states (through the token construction).
    func finiteDifferences(_ model: Transformer, _ states: Tensor, _ construction: TokenConstruction) -> [Double] {
        let (bSize, tLen, n) = (states.shape[0], states.shape[1], states.shape[2])
        let h = 1e-5
        var s = [Double](repeating: 0, count: tLen * tLen)
        for b in 0..<bSize {
            let one = Array(states.doubles[(b * tLen * n)..<((b + 1) * tLen * n)])
            func f(_ x: [Double]) -> [Double] {
                Variable.withoutGradients { model(construction.tokens(from: Tensor(shape: [1, tLen, n], x))).value.doubles }
            }
            var norm2 = [Double](repeating: 0, count: tLen * tLen)
            for tp in 0..<tLen {
                for j in 0..<n {
                    var up = one, down = one
                    up[tp * n + j] += h
                    down[tp * n + j] -= h
                    let (fu, fd) = (f(up), f(down))
                    for t in 0..<tLen { for i in 0..<n { let d = (fu[t * n + i] - fd[t * n + i]) / (2 * h); norm2[t * tLen + tp] += d * d } }
                }
            }
            for k in 0..<norm2.count { s[k] += norm2[k].squareRoot() / Double(bSize) }
        }
        return s
    }

    /// Softmax layers with LayerNorm, GELU MLPs, an embedding and a positional encoding on raw
    /// tokens, and a linear model on constructed tokens (whose s_{t'} also sits in e_{t'+1});
    /// three sequences in chunks of two, so a chunk's copies and a short last chunk are both used.
    @Test(arguments: [TokenConstruction.raw, .constructed])
    func matchesCentralDifferences(_ construction: TokenConstruction) throws {
        let n = 3, tLen = 5
        let config = construction == .raw
            ? ModelConfig(dimension: n, width: 8, embedding: true, layers: [.softmax, .softmax], heads: 2, keySize: 4,
                          layerNorm: true, mlp: true, positionalEncoding: 4, initStd: 0.4)
            : ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear, .linear], heads: 1, keySize: 4, initStd: 0.3)
        let model = try Transformer(config: config, seed: 7, dtype: .float64)
        let states = gaussian([3, tLen, n], seed: 11)
        let exact = Sensitivity.measure(model: model, states: states, tokens: construction, chunk: 2)
        let reference = finiteDifferences(model, states, construction)
        #expect(exact.contains { $0 > 1e-3 })
        for (a, r) in zip(exact, reference) { #expect(abs(a - r) <= 1e-6 * max(1, abs(r)), "\(a) vs \(r)") }
    }

    /// linear-1 on constructed tokens is causal: exactly zero above the diagonal, positive on it and
    /// on the one below (e_t holds s_t and s_{t−1}).
    @Test func linearOneIsCausal() throws {
        let n = 4, tLen = 8
        let config = ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear], heads: 1, keySize: 4 * n, initStd: 0.3)
        let model = try Transformer(config: config, seed: 3, dtype: .float64)
        let s = Sensitivity.measure(model: model, states: gaussian([6, tLen, n], seed: 5), tokens: .constructed, chunk: 4)
        for t in 0..<tLen {
            for tp in 0..<tLen where tp > t { #expect(s[t * tLen + tp] == 0) }
            #expect(s[t * tLen + t] > 1e-3)
            if t > 0 { #expect(s[t * tLen + t - 1] > 1e-3) }
        }
        let summary = SensitivityAnalysis.summarize(s, length: tLen)
        #expect(summary.aboveDiagonal == 0 && summary.byLag[0] > 0)
    }
}
