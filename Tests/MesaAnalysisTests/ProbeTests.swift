import Foundation
import Testing
import MesaAnalysis
import MesaNN
import MesaTasks
import MesaTensor

/// Linear probes (SPEC §5.4) hold to what least squares must give.
@Suite struct ProbeTests {
    func gaussian(_ shape: [Int], seed: UInt64, index: Int) -> Tensor {
        var stream = RandomStream(seed: seed, purpose: .experiment, index: index)
        return Tensor.normal(shape: shape, std: 1, dtype: .float64, stream: &stream)
    }

    /// A target that is a linear function of the features is recovered exactly, out of sample.
    @Test func aPlantedLinearFeatureIsRecoveredExactly() {
        let (d, m) = (6, 3)
        let w = gaussian([d, m], seed: 1, index: 0)
        var gram = ProbeGram(features: d, outputs: m)
        let x1 = gaussian([300, d], seed: 1, index: 1)
        gram.add(x1, matmul(x1, w))
        let fitted = gram.solve()
        #expect(zip(fitted, w.doubles).allSatisfy { abs($0 - $1) < 1e-10 })
        var score = ProbeScore(outputs: m)
        let x2 = gaussian([300, d], seed: 1, index: 2)
        score.add(x2, matmul(x2, w), weights: fitted)
        #expect(abs(score.r2(0..<m) - 1) < 1e-12)
        #expect(score.mse(0..<m) < 1e-20)
    }

    /// A target independent of the features scores R² ≈ 0 out of sample (≈ −D/N), though the fit
    /// in sample is positive: scoring really uses the second set.
    @Test func anUnrelatedTargetScoresNothingOutOfSample() {
        let d = 8
        var gram = ProbeGram(features: d, outputs: 2)
        gram.add(gaussian([400, d], seed: 2, index: 0), gaussian([400, 2], seed: 2, index: 1))
        let w = gram.solve()
        let inSample = 1 - gram.residualSquares(w).reduce(0, +) / gram.totalSquares.reduce(0, +)
        #expect(inSample > 0.005)
        var score = ProbeScore(outputs: 2)
        score.add(gaussian([4000, d], seed: 2, index: 2), gaussian([4000, 2], seed: 2, index: 3), weights: w)
        #expect(score.r2(0..<2) < 0 && score.r2(0..<2) > -0.1)
        #expect(abs(score.mse(0..<2) - 1) < 0.1)
    }

    /// Chunks add up: two halves give the Gram of the whole.
    @Test func gramsAccumulateOverChunks() {
        let x = gaussian([40, 5], seed: 3, index: 0), y = gaussian([40, 2], seed: 3, index: 1)
        var whole = ProbeGram(features: 5, outputs: 2), halves = whole
        whole.add(x, y)
        let xs = x.doubles, ys = y.doubles
        halves.add(Tensor(shape: [20, 5], Array(xs[0..<100])), Tensor(shape: [20, 2], Array(ys[0..<40])))
        halves.add(Tensor(shape: [20, 5], Array(xs[100...])), Tensor(shape: [20, 2], Array(ys[40...])))
        #expect(zip(whole.solve(), halves.solve()).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    /// The preconditioned token solves (Σ_{t'<t} s s ᵀ + λI) x = s_t.
    @Test func thePreconditionedTokenSolvesItsSystem() {
        let states = gaussian([2, 5, 3], seed: 4, index: 0)
        let s = StateSequences(inputs: states, targets: states)
        let lambda = 0.3
        let x = ProbeTarget.preconditioned(lambda: lambda).values(s)
        for b in 0..<2 {
            for t in 1...5 {
                var a = [Double](repeating: 0, count: 9)
                for tp in 1..<t { for i in 0..<3 { for j in 0..<3 { a[i * 3 + j] += s.state(b, tp, i) * s.state(b, tp, j) } } }
                for i in 0..<3 {
                    var lhs = lambda * x[(b * 5 + t - 1) * 3 + i]
                    for j in 0..<3 { lhs += a[i * 3 + j] * x[(b * 5 + t - 1) * 3 + j] }
                    #expect(abs(lhs - s.state(b, t, i)) < 1e-12)
                }
            }
        }
        #expect(ProbeTarget.past(2).values(s)[(0 * 5 + 1) * 3] == 0)  // s_{t−2} at t = 2 is s_0 = 0
        #expect(ProbeTarget.past(1).values(s)[(1 * 5 + 3) * 3 + 2] == s.state(1, 3, 2))
    }

    /// Constructed tokens [0, s_t, s_t, s_{t−1}] hold s_t and s_{t−1} linearly: their probes from the
    /// embedding score R² = 1, and s_{t−2} (not in the token, drawn independently) scores about 0.
    @Test func probesOfConstructedTokensReadTheirContents() {
        let n = 3, tLen = 6
        let config = ModelConfig(dimension: n, width: 4 * n, embedding: false, layers: [.linear], heads: 1, keySize: 4,
                                 initStd: 0.1)
        let model = try! Transformer(config: config, seed: 0, dtype: .float64)
        func set(_ i: Int) -> (Tensor, StateSequences) {
            let states = gaussian([600, tLen, n], seed: 5, index: i)
            return (TokenConstruction.constructed.tokens(from: states), StateSequences(inputs: states, targets: states))
        }
        let (fitTokens, fitStates) = set(0), (scoreTokens, scoreStates) = set(1)
        let sites = ResidualProbes.sites(of: model)
        #expect(sites == ["embedding", "layers.0.after_attention"])
        let r = ResidualProbes.measure(model: model, sites: sites, fitTokens: fitTokens, fitStates: fitStates,
                                       scoreTokens: scoreTokens, scoreStates: scoreStates, chunk: 256)
        #expect(r.targets == ["s_t", "s_t-1", "s_t-2", "s_t-3", "s_t+1", "preconditioned"])
        #expect(r.r2[0][0].allSatisfy { abs($0 - 1) < 1e-9 })
        #expect(r.r2[0][1][0].isNaN && r.r2[0][1][1...].allSatisfy { abs($0 - 1) < 1e-9 })
        #expect(r.r2[0][2][2...].allSatisfy { abs($0) < 0.05 })
        #expect(abs(r.meanR2(site: "embedding", target: "s_t-1") - 1) < 1e-9)
    }

    /// The fast measure (strided BLAS Grams, sites in parallel, chunks of any size) gives the
    /// reference's numbers to rounding, and the same bytes on one worker as on all of them.
    @Test func theFastMeasureMatchesTheReference() throws {
        let n = 3, tLen = 7
        let config = ModelConfig(dimension: n, width: 8, embedding: true, layers: [.softmax, .softmax], heads: 2, keySize: 4,
                                 layerNorm: true, mlp: true, positionalEncoding: 4, initStd: 0.3)
        let model = try Transformer(config: config, seed: 2, dtype: .float64)
        func set(_ i: Int) -> (Tensor, StateSequences) {
            let states = gaussian([150, tLen, n], seed: 6, index: i)
            return (states, StateSequences(inputs: states, targets: gaussian([150, tLen, n], seed: 6, index: i + 10)))
        }
        let (fitTokens, fitStates) = set(0), (scoreTokens, scoreStates) = set(1)
        let sites = ResidualProbes.sites(of: model)
        let reference = ResidualProbes.referenceMeasure(model: model, sites: sites, fitTokens: fitTokens, fitStates: fitStates,
                                                        scoreTokens: scoreTokens, scoreStates: scoreStates, chunk: 64)
        let fast = ResidualProbes.measure(model: model, sites: sites, fitTokens: fitTokens, fitStates: fitStates,
                                          scoreTokens: scoreTokens, scoreStates: scoreStates, chunk: 40)
        let single = Parallel.withWorkers(1) {
            ResidualProbes.measure(model: model, sites: sites, fitTokens: fitTokens, fitStates: fitStates,
                                   scoreTokens: scoreTokens, scoreStates: scoreStates, chunk: 40)
        }
        #expect(fast.targets == reference.targets && fast.lambda == reference.lambda && fast.sites == reference.sites)
        #expect(fast.r2.flatMap { $0 }.flatMap { $0 }.contains { $0 > 0.1 })
        for (values, expected) in [(fast.r2, reference.r2), (fast.mse, reference.mse)] {
            for (a, b) in zip(values.flatMap { $0 }.flatMap { $0 }, expected.flatMap { $0 }.flatMap { $0 }) {
                #expect(a.isNaN == b.isNaN && (a.isNaN || abs(a - b) <= 1e-9 * max(1, abs(b))), "\(a) vs \(b)")
            }
        }
        #expect(fast == single || (fast.r2.description == single.r2.description && fast.mse.description == single.mse.description))
    }
}
