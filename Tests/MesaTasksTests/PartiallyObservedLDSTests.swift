import Testing
import MesaTasks
import MesaTensor

/// Numerical rank of the rows of `m` [rows, cols] by Gram–Schmidt: rows whose remainder is
/// below `tolerance` times their norm add nothing.
func rank(_ m: [Double], rows: Int, cols: Int, tolerance: Double = 1e-8) -> Int {
    var basis: [[Double]] = []
    for r in 0..<rows {
        var v = Array(m[(r * cols)..<((r + 1) * cols)])
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for _ in 0..<2 {  // twice, for orthogonality in floating point
            for q in basis {
                let dot = zip(v, q).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<cols { v[i] -= dot * q[i] }
            }
        }
        let rest = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 && rest > tolerance * norm { basis.append(v.map { $0 / rest }) }
    }
    return basis.count
}

@Suite struct PartiallyObservedLDSTests {
    let task = PartiallyObservedLDS(dimension: 5, settings: .init(hidden: 15), noise: 0)

    @Test func observationsAreAProjectionOfTheHiddenState() {
        var stream = RandomStream(seed: 4, purpose: .trainingBatch, step: 2, index: 1)
        let (teacher, h, s) = task.trajectory(count: 30, stream: &stream)
        #expect(s.count == 30 * 5 && h.count == 30 * 15)
        for t in 0..<30 {
            for i in 0..<5 {
                let y = (0..<15).map { teacher.observation[i * 15 + $0] * h[t * 15 + $0] }.reduce(0, +)
                #expect(abs(y - s[t * 5 + i]) < 1e-12)
            }
            guard t > 0 else { continue }
            for i in 0..<15 {
                let x = (0..<15).map { teacher.transition[i * 15 + $0] * h[(t - 1) * 15 + $0] }.reduce(0, +)
                #expect(abs(x - h[t * 15 + i]) < 1e-12)
            }
        }
        var again = RandomStream(seed: 4, purpose: .trainingBatch, step: 2, index: 1)
        #expect(task.sequence(count: 30, stream: &again) == s)
    }

    /// The defining rank: one observation is 5 numbers, but windows of 4 consecutive
    /// observations (20 numbers) span only the 15 dimensions of the hidden state.
    @Test func windowsOfObservationsHaveTheHiddenRank() {
        var stream = RandomStream(seed: 9, purpose: .testBatch, index: 0)
        let s = task.sequence(count: 80, stream: &stream)
        let windows = 80 - 3
        var m = [Double]()
        for t in 0..<windows { m += s[(t * 5)..<((t + 4) * 5)] }
        #expect(rank(m, rows: windows, cols: 20) == 15)
        // Observations of a fully observed system of size 20 would fill all 20 dimensions.
        var full = RandomStream(seed: 9, purpose: .testBatch, index: 0)
        let lds = LinearDynamicalSystem(dimension: 20, noise: 0).sequence(count: 40, stream: &full)
        #expect(rank(lds, rows: 40, cols: 20) == 20)
    }

    @Test func observationEntriesHaveTheStatedScale() {
        var c: [Double] = []
        for index in 0..<40 {
            var stream = RandomStream(seed: 1, purpose: .testBatch, index: index)
            c += task.teacher(stream: &stream).observation
        }
        let std = (c.map { $0 * $0 }.reduce(0, +) / Double(c.count)).squareRoot()
        #expect(abs(std - 0.5) < 0.02)
    }
}
