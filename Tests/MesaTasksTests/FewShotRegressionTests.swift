import Testing
import MesaTasks
import MesaTensor

@Suite struct FewShotRegressionTests {
    @Test func tokensArePairsOfOneOrthogonalMapAndOnlyYsAreScored() {
        let task = FewShotRegression(dimension: 4)
        var stream = RandomStream(seed: 3, purpose: .experiment, index: 0)
        let s = task.sequence(count: 9, stream: &stream)
        var again = RandomStream(seed: 3, purpose: .experiment, index: 0)
        let w = Linalg.haarOrthogonal(4, stream: &again)
        for pair in 0..<4 {
            for i in 0..<4 {
                let y = (0..<4).map { w[i * 4 + $0] * s[2 * pair * 4 + $0] }.reduce(0, +)
                #expect(abs(y - s[(2 * pair + 1) * 4 + i]) < 1e-12)
            }
        }
        let batch = task.batch(pairs: 3, size: 2, seed: 3, purpose: .experiment, dtype: .float64)
        #expect(batch.inputs.shape == [2, 6, 4])
        #expect(batch.lossMask?.doubles == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
        // Scored positions hold x_i and have target y_i = W x_i.
        #expect(Array(batch.inputs.doubles.prefix(24)) == Array(s.prefix(24)))
        #expect(Array(batch.targets.doubles.prefix(4)) == Array(s[4..<8]))
    }
}
