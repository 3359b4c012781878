import Testing
import MesaTasks
import MesaTensor

@Suite struct LinearDynamicalSystemTests {
    @Test func sequencesFollowTheirTeacher() {
        let lds = LinearDynamicalSystem(dimension: 6, noise: 0)
        var a = RandomStream(seed: 3, purpose: .trainingBatch, step: 1, index: 2)
        let s = lds.sequence(count: 20, stream: &a)
        var b = RandomStream(seed: 3, purpose: .trainingBatch, step: 1, index: 2)
        let w = lds.teacher(stream: &b)
        for t in 0..<19 {
            for i in 0..<6 {
                let next = (0..<6).map { w[i * 6 + $0] * s[t * 6 + $0] }.reduce(0, +)
                #expect(abs(next - s[(t + 1) * 6 + i]) < 1e-12)
            }
        }
        #expect(s.prefix(6).allSatisfy { $0 >= -1 && $0 < 1 })
    }

    @Test func noiseHasTheStatedScale() {
        let lds = LinearDynamicalSystem(dimension: 10, noise: 0.01)
        let noiseless = LinearDynamicalSystem(dimension: 10, noise: 0)
        var residuals: [Double] = []
        for index in 0..<50 {
            var s1 = RandomStream(seed: 1, purpose: .testBatch, index: index)
            let s = lds.sequence(count: 30, stream: &s1)
            var s2 = RandomStream(seed: 1, purpose: .testBatch, index: index)
            let w = noiseless.teacher(stream: &s2)
            for t in 0..<29 {
                for i in 0..<10 {
                    let pred = (0..<10).map { w[i * 10 + $0] * s[t * 10 + $0] }.reduce(0, +)
                    residuals.append(s[(t + 1) * 10 + i] - pred)
                }
            }
        }
        let std = (residuals.map { $0 * $0 }.reduce(0, +) / Double(residuals.count)).squareRoot()
        #expect(abs(std - 0.01) < 0.0005)
    }

    @Test func batchesArePureFunctionsOfSeedAndStep() {
        let lds = LinearDynamicalSystem()
        let a = lds.batch(size: 7, length: 9, seed: 5, purpose: .trainingBatch, step: 3)
        let b = lds.batch(size: 7, length: 9, seed: 5, purpose: .trainingBatch, step: 3)
        let c = lds.batch(size: 7, length: 9, seed: 5, purpose: .trainingBatch, step: 4)
        #expect(a.inputs.doubles == b.inputs.doubles && a.targets.doubles == b.targets.doubles)
        #expect(a.inputs.doubles != c.inputs.doubles)
        // Sequence b of a batch is the same whatever the batch size: (seed, step, index) alone.
        let bigger = lds.batch(size: 9, length: 9, seed: 5, purpose: .trainingBatch, step: 3)
        #expect(Array(bigger.inputs.doubles.prefix(7 * 9 * 10)) == a.inputs.doubles)
        // Targets are the inputs shifted by one position.
        let x = a.inputs.doubles, y = a.targets.doubles
        for seq in 0..<7 { for t in 0..<8 { for i in 0..<10 {
            #expect(y[(seq * 9 + t) * 10 + i] == x[(seq * 9 + t + 1) * 10 + i])
        } } }
    }

    @Test func statesAreClippedAndFixedTeachersShared() {
        let loud = LinearDynamicalSystem(dimension: 4, noise: 50, stateClip: 10)
        let batch = loud.batch(size: 4, length: 30, seed: 2, purpose: .testBatch, dtype: .float64)
        #expect(batch.inputs.doubles.allSatisfy { abs($0) <= 10 })
        let fixed = LinearDynamicalSystem(dimension: 4, noise: 0, fixedTeacher: 11)
        var s1 = RandomStream(seed: 1, purpose: .testBatch, index: 0)
        var s2 = RandomStream(seed: 2, purpose: .trainingBatch, index: 5)
        #expect(fixed.teacher(stream: &s1) == fixed.teacher(stream: &s2))
    }
}

@Suite struct TokenTests {
    @Test func constructedTokensHoldCurrentAndPreviousStates() {
        let states = Tensor(shape: [1, 3, 2], [1.0, 2, 3, 4, 5, 6])
        #expect(TokenConstruction.constructed.tokens(from: states).doubles ==
                [0, 0, 1, 2, 1, 2, 0, 0,
                 0, 0, 3, 4, 3, 4, 1, 2,
                 0, 0, 5, 6, 5, 6, 3, 4])
        #expect(TokenConstruction.constructedMasked.tokens(from: states).doubles ==
                [0, 0, 0, 0, 1, 2, 0, 0,
                 0, 0, 0, 0, 3, 4, 1, 2,
                 0, 0, 0, 0, 5, 6, 3, 4])
        #expect(TokenConstruction.raw.tokens(from: states).doubles == states.doubles)
        #expect(TokenConstruction.constructedMasked.blockSignals == [.zero, .zero, .current, .previous])
    }

    /// A batch large enough to be split across workers, in Float32 and Float64: every token is its
    /// definition e_t = [0, s_t (or 0 when masked), s_t, s_{t−1}] with s_0 = 0.
    @Test(arguments: [DType.float32, .float64])
    func largeBatchesAreTheDefinition(dtype: DType) {
        let (b, t, n) = (70, 9, 5)
        let states = Tensor(shape: [b, t, n], (0..<(b * t * n)).map { Double($0 % 997) - 400.5 }).converted(to: dtype)
        let s = states.doubles
        for kind in [TokenConstruction.constructed, .constructedMasked] {
            var expected = [Double]()
            for seq in 0..<b {
                for step in 0..<t {
                    let cur = Array(s[((seq * t + step) * n)..<((seq * t + step + 1) * n)])
                    let prev = step == 0 ? [Double](repeating: 0, count: n) : Array(s[((seq * t + step - 1) * n)..<((seq * t + step) * n)])
                    expected += [Double](repeating: 0, count: n) + (kind == .constructedMasked ? [Double](repeating: 0, count: n) : cur) + cur + prev
                }
            }
            let tokens = kind.tokens(from: states)
            #expect(tokens.shape == [b, t, 4 * n] && tokens.dtype == dtype)
            #expect(tokens.doubles == expected, "\(kind) \(dtype)")
        }
    }
}
