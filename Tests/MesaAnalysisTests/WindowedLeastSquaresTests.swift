import Testing
import MesaAnalysis
import MesaTasks
import MesaTensor

@Suite struct WindowedLeastSquaresTests {
    @Test func aWindowOfOneIsRidge() {
        let s = states(batch: 3, length: 14, n: 3)
        let a = Baselines.windowedRidge(s, window: 1, lambda: 0.1)
        let b = Baselines.ridge(s, lambda: 0.1)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-10 })
    }

    /// Under partial observation (hidden 15, observed 5) the last 4 observations determine the
    /// next one and a single observation does not.
    @Test func aWindowPredictsAPartiallyObservedSystem() {
        let task = PartiallyObservedLDS(dimension: 5, settings: .init(hidden: 15), noise: 0)
        let batch = task.batch(size: 8, length: 60, seed: 2, purpose: .testBatch, dtype: .float64)
        let s = StateSequences(inputs: batch.inputs, targets: batch.targets)
        let windowed = s.loss(of: Baselines.windowedRidge(s, window: 4, lambda: 1e-6))
        let plain = s.loss(of: Baselines.ridge(s, lambda: 1e-6))
        let late = 45..<60
        let w = late.map { windowed[$0] }.reduce(0, +), p = late.map { plain[$0] }.reduce(0, +)
        #expect(w < 1e-3 * p)
        #expect(p > 1e-2)
    }

    /// On few-shot tokens, LSQ on the x → y pairs alone recovers W from n pairs; LSQ on every
    /// transition is misled by the y → x ones (SPEC §1 task 6).
    @Test func fittingOnlyThePairsRecoversTheRegression() {
        let n = 4
        let batch = FewShotRegression(dimension: n).batch(pairs: 10, size: 16, seed: 1, purpose: .experiment, dtype: .float64)
        let s = StateSequences(inputs: batch.inputs, targets: batch.targets)
        let pairs = s.loss(of: Baselines.windowedRidge(s, window: 1, lambda: 1e-8, fits: { $0 % 2 == 0 }))
        let all = s.loss(of: Baselines.ridge(s, lambda: 1e-8))
        for pair in (n + 1)..<10 {  // pair index i = pair + 1 > n: n pairs seen
            #expect(pairs[2 * pair] < 1e-8)
            #expect(all[2 * pair] > 0.1)
        }
        #expect(pairs[0] > 0.5)  // nothing seen yet: ŷ = 0, error ½‖y‖² ≈ n/2
    }
}
