import Testing
import MesaAnalysis
import MesaNN
import MesaTensor

/// `mesa analyze probes` runs the model's forward in Float32 (as it trained) and everything after it
/// in Double: its R² must match those of a Double forward of the same weights to far below what
/// the probes can resolve.
extension ProbeTests {
    @Test func aFloat32ForwardGivesTheDoubleForwardsProbes() throws {
        let n = 3, tLen = 9
        let config = ModelConfig(dimension: n, width: 8, embedding: true, layers: [.softmax, .softmax], heads: 2, keySize: 4,
                                 activationClip: 1.5, layerNorm: true, mlp: true, positionalEncoding: 4, initStd: 0.3)
        let double = try Transformer(config: config, seed: 7, dtype: .float64)
        // Float32 weights, as a checkpoint holds them, in both models.
        let weights = double.stateTensors.mapValues { $0.converted(to: .float32) }
        try double.load(weights)
        let single = try Transformer(config: config, seed: 7, dtype: .float32)
        try single.load(weights)
        func set(_ i: Int) -> (Tensor, StateSequences) {
            let states = gaussian([400, tLen, n], seed: 8, index: i)
            return (states, StateSequences(inputs: states, targets: gaussian([400, tLen, n], seed: 8, index: i + 10)))
        }
        let (fitTokens, fitStates) = set(0), (scoreTokens, scoreStates) = set(1)
        func measure(_ m: Transformer) -> ResidualProbes.Result {
            ResidualProbes.measure(model: m, sites: ResidualProbes.sites(of: m), fitTokens: fitTokens, fitStates: fitStates,
                                   scoreTokens: scoreTokens, scoreStates: scoreStates, chunk: 128)
        }
        let a = measure(double), b = measure(single)
        #expect(a.lambda == b.lambda && a.sites == b.sites && a.targets == b.targets)
        let pairs = zip(a.r2.flatMap { $0 }.flatMap { $0 }, b.r2.flatMap { $0 }.flatMap { $0 })
        #expect(pairs.contains { $0.0 > 0.3 }, "some probe must read something")
        let worst = pairs.filter { $0.0.isFinite }.map { abs($0.0 - $0.1) }.max()!
        #expect(worst < 1e-5, "largest R² difference \(worst)")
        #expect(worst > 0, "the two forwards should differ by rounding")
    }

    /// A feature that is another plus noise at 1e-7 of its size (a missing direction seen through
    /// Float32 rounding) is not fitted as signal: held-out R² is that of the first feature alone.
    @Test func roundingNoiseInAMissingDirectionIsNotFitted() {
        func column(_ index: Int) -> [Double] { gaussian([500, 1], seed: 9, index: index).doubles }
        let sets = [0, 3].map { k in (z: column(k), e: column(k + 1), noise: column(k + 2)) }
        func r2(width: Int, amplitude: Double) -> Double {
            func rows(_ set: (z: [Double], e: [Double], noise: [Double])) -> (Tensor, Tensor) {
                let x = (0..<500).flatMap { i in [set.z[i], set.z[i] + amplitude * set.e[i]].prefix(width) }
                return (Tensor(shape: [500, width], Array(x)), Tensor(shape: [500, 1], (0..<500).map { set.z[$0] + 0.1 * set.noise[$0] }))
            }
            var gram = ProbeGram(features: width, outputs: 1)
            let (fx, fy) = rows(sets[0])
            gram.add(fx, fy)
            var score = ProbeScore(outputs: 1)
            let (sx, sy) = rows(sets[1])
            score.add(sx, sy, weights: gram.solve())
            return score.r2(0..<1)
        }
        let alone = r2(width: 1, amplitude: 0)
        #expect(alone > 0.95)
        #expect(abs(r2(width: 2, amplitude: 1e-7) - alone) < 1e-6, "\(r2(width: 2, amplitude: 1e-7)) vs \(alone)")
        // A difference at 1e-3 is a real (if weak) feature and is fitted as one: y = x₂ exactly.
        let z = sets[0].z, e = sets[0].e
        let x2 = (0..<500).map { z[$0] + 1e-3 * e[$0] }
        var real = ProbeGram(features: 2, outputs: 1)
        real.add(Tensor(shape: [500, 2], (0..<500).flatMap { [z[$0], x2[$0]] }), Tensor(shape: [500, 1], x2))
        let wr = real.solve()
        #expect(abs(wr[0]) < 1e-6 && abs(wr[1] - 1) < 1e-6, "weights \(wr)")
    }
}
