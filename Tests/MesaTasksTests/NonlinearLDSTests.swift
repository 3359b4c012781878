import Foundation
import Testing
import MesaTasks
import MesaTensor

@Suite struct NonlinearLDSTests {
    @Test func statesAreTheTeacherAppliedToTheUnitNormMLPOutput() {
        let task = NonlinearLDS(dimension: 6, settings: .init(width: 24, inputGain: 1.1), noise: 0)
        var a = RandomStream(seed: 2, purpose: .trainingBatch, step: 5, index: 3)
        let s = task.sequence(count: 25, stream: &a)
        var b = RandomStream(seed: 2, purpose: .trainingBatch, step: 5, index: 3)
        let teacher = task.teacher(stream: &b)
        for t in 0..<24 {
            let g = task.mlp(teacher, s[(t * 6)..<((t + 1) * 6)])
            #expect(abs(g.reduce(0) { $0 + $1 * $1 } - 1) < 1e-12)
            for i in 0..<6 {
                let next = (0..<6).map { teacher.transition[i * 6 + $0] * g[$0] }.reduce(0, +)
                #expect(abs(next - s[(t + 1) * 6 + i]) < 1e-12)
            }
            // W* is orthogonal, so every state after the first lies on the unit sphere.
            let norm = s[((t + 1) * 6)..<((t + 2) * 6)].reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-12)
        }
    }

    /// The MLP is GELU between two Gaussian maps (A with std inputGain/√n): checked against the
    /// erf form of GELU, which the tanh form follows to within 1e-3.
    @Test func mlpIsGELUBetweenTheTwoMaps() {
        let task = NonlinearLDS(dimension: 3, settings: .init(width: 5, inputGain: 2), noise: 0)
        var stream = RandomStream(seed: 7, purpose: .testBatch, index: 0)
        let teacher = task.teacher(stream: &stream)
        let h: [Double] = [0.3, -0.8, 0.5]
        let hidden = (0..<5).map { k -> Double in
            let u = (0..<3).map { teacher.a[k * 3 + $0] * h[$0] }.reduce(0, +)
            return 0.5 * u * (1 + erf(u / 2.0.squareRoot()))
        }
        let out = (0..<3).map { i in (0..<5).map { teacher.b[i * 5 + $0] * hidden[$0] }.reduce(0, +) }
        let norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let g = task.mlp(teacher, h[...])
        for i in 0..<3 { #expect(abs(g[i] - out[i] / norm) < 2e-3) }
        var aEntries: [Double] = []
        for index in 0..<200 {
            var s = RandomStream(seed: 3, purpose: .testBatch, index: index)
            aEntries += task.teacher(stream: &s).a
        }
        let std = (aEntries.map { $0 * $0 }.reduce(0, +) / Double(aEntries.count)).squareRoot()
        #expect(abs(std - 2 / 3.0.squareRoot()) < 0.05)
    }
}
