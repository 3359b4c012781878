import Testing
import Numerics
import MesaTensor
import MesaTheory

@Suite struct GradientTests {
    /// Central differences of L in the real and imaginary part of every entry: ∂L/∂Re + i ∂L/∂Im.
    @Test func referenceGradientMatchesFiniteDifferences() throws {
        let process = ARProcess(dimension: 2, length: 7, initialToken: .gaussian(sigma: 1))
        let data = try ARSequenceSet(process, count: 3, seed: 11, purpose: .trainingBatch)
        let model = try randomModel(dimension: 2, seed: 4)
        let exact = model.referenceLossAndGradient(on: data)
        let h = 1e-6
        func loss(_ m: LinearCausalAttention) -> Double { m.referenceLossAndGradient(on: data).loss }
        func numeric(_ perturb: (inout LinearCausalAttention, Complex<Double>) -> Void) -> Complex<Double> {
            var plus = model, minus = model
            perturb(&plus, Complex(h, 0)); perturb(&minus, Complex(-h, 0))
            let re = (loss(plus) - loss(minus)) / (2 * h)
            plus = model; minus = model
            perturb(&plus, Complex(0, h)); perturb(&minus, Complex(0, -h))
            let im = (loss(plus) - loss(minus)) / (2 * h)
            return Complex(re, im)
        }
        var worst = 0.0
        for i in model.keyQuery.indices {
            let fd = numeric { $0.keyQuery[i] += $1 }
            worst = max(worst, (fd - exact.keyQuery[i]).length / max(1, exact.keyQuery[i].length))
        }
        for i in model.projectionValue.indices {
            let fd = numeric { $0.projectionValue[i] += $1 }
            worst = max(worst, (fd - exact.projectionValue[i]).length / max(1, exact.projectionValue[i].length))
        }
        #expect(worst < 1e-6, "largest relative gap to central differences \(worst)")
        #expect(maxModulus(exact.keyQuery) > 1e-2 && maxModulus(exact.projectionValue) > 1e-2)
    }

    /// The lane kernel against the reference on dense, sparse and mixed supports, with counts that
    /// leave lanes and parts partly empty.
    @Test(arguments: [
        InitialTokenDistribution.gaussian(sigma: 0.7),
        .sparse(scale: 1.5),
        .custom(name: "half-sparse complex") { stream, d in
            (0..<d).map { _ in stream.uniform() < 0.5 ? .zero : Complex(stream.normal(), stream.normal()) }
        },
    ])
    func laneKernelMatchesReference(_ distribution: InitialTokenDistribution) throws {
        let process = ARProcess(dimension: 3, length: 9, initialToken: distribution)
        let data = try ARSequenceSet(process, count: 23, seed: 5, purpose: .trainingBatch)
        let model = try randomModel(dimension: 3, seed: 8)
        let reference = model.referenceLossAndGradient(on: data)
        let fast = FullBatchObjective(data).lossAndGradient(model)
        #expect(abs(fast.loss - reference.loss) <= 1e-12 * reference.loss)
        let scale = max(maxModulus(reference.keyQuery), maxModulus(reference.projectionValue))
        #expect(maxAbsDifference(fast.keyQuery, reference.keyQuery) <= 1e-12 * scale)
        #expect(maxAbsDifference(fast.projectionValue, reference.projectionValue) <= 1e-12 * scale)
    }

    @Test func sameSeedGivesIdenticalNumbers() throws {
        let process = ARProcess(dimension: 4, length: 12, initialToken: .gaussian(sigma: 1))
        let a = try ARSequenceSet(process, count: 40, seed: 3, purpose: .trainingBatch)
        let b = try ARSequenceSet(process, count: 40, seed: 3, purpose: .trainingBatch)
        let c = try ARSequenceSet(process, count: 40, seed: 4, purpose: .trainingBatch)
        #expect(a.rotations == b.rotations && a.initialTokens == b.initialTokens)
        #expect(a.initialTokens != c.initialTokens)
        let model = try randomModel(dimension: 4, seed: 1)
        let first = FullBatchObjective(a).lossAndGradient(model)
        let second = FullBatchObjective(b).lossAndGradient(model)
        #expect(first.loss == second.loss && first.keyQuery == second.keyQuery && first.projectionValue == second.projectionValue)
        // Sequence n depends on (seed, n) alone.
        let longer = try ARSequenceSet(process, count: 50, seed: 3, purpose: .trainingBatch)
        #expect(Array(longer.initialTokens.prefix(160)) == a.initialTokens)
    }

    @Test func tokensFollowTheRecurrence() throws {
        let data = try ARSequenceSet(ARProcess(dimension: 3, length: 20, initialToken: .gaussian(sigma: 1)),
                                     count: 2, seed: 1, purpose: .testBatch)
        let x = data.tokens(1)
        for j in 0..<3 {
            #expect(x[j] == .zero)
            let lambda = data.rotations[3 + j]
            #expect(abs(lambda.length - 1) < 1e-15)
            // x_t = λ^{t−1} x_1, with the power from the polar form.
            let power = Complex(length: 1, phase: 19 * lambda.phase)
            #expect((x[20 * 3 + j] - power * x[3 + j]).length < 1e-12)
        }
    }
}
