import Testing
import Numerics
import MesaTensor
import MesaTheory

@Suite struct TrainingTests {
    /// A short run closes most of the gap between ab and its limit: s* = 1/c² for the sparse token,
    /// the training set's own optimum for the Gaussian one.
    @Test func shortRunMovesTowardTheLimit() throws {
        let sparse = try ARSequenceSet(ARProcess(dimension: 3, length: 20, initialToken: .sparse(scale: 1)),
                                       count: 64, seed: 0, purpose: .trainingBatch)
        let start = try LinearCausalAttention.diagonal(dimension: 3, a: 0.5, b: 1.5)
        let run = try GradientDescent(stepSize: 1e-2, steps: 30).run(from: start, on: FullBatchObjective(sparse))
        // From ab = 0.75, a quarter from s* = 1, to within 5% of that gap.
        #expect(abs(run.model.ab - 1) < 0.05 * abs(start.ab - 1), "ab \(run.model.ab)")
        #expect(run.records.count == 31 && run.records.last!.loss < run.records.first!.loss / 100)

        let gaussian = try ARSequenceSet(ARProcess(dimension: 3, length: 20, initialToken: .gaussian(sigma: 1)),
                                         count: 200, seed: 0, purpose: .trainingBatch)
        let target = OneStepGD.bestStepSize(on: gaussian)
        let g = try GradientDescent(stepSize: 4e-4, steps: 40).run(from: start, on: FullBatchObjective(gaussian))
        // The full model's optimum on 200 sequences is near, not at, the tied family's: a fivefold closing.
        #expect(abs(g.model.ab - target) < 0.2 * abs(start.ab - target), "ab \(g.model.ab), sample optimum \(target)")
    }

    @Test func trainingIsDeterministic() throws {
        let data = try ARSequenceSet(ARProcess(dimension: 3, length: 15, initialToken: .gaussian(sigma: 1)),
                                     count: 50, seed: 4, purpose: .trainingBatch)
        let start = try LinearCausalAttention.diagonal(dimension: 3, a: 0.1, b: 0.1)
        let gd = GradientDescent(stepSize: 1e-3, steps: 10)
        let first = try gd.run(from: start, on: FullBatchObjective(data))
        let second = try gd.run(from: start, on: FullBatchObjective(data))
        #expect(first.model == second.model && first.records == second.records)
        // Continuing a run is the same as running longer.
        let half = try GradientDescent(stepSize: 1e-3, steps: 5).run(from: start, on: FullBatchObjective(data))
        let rest = try GradientDescent(stepSize: 1e-3, steps: 5).run(from: half.model, on: FullBatchObjective(data), firstStep: 5)
        #expect(rest.model == first.model && rest.records.last == first.records.last)
    }

    @Test func badStepSizesAndDivergenceAreReported() throws {
        let data = try ARSequenceSet(ARProcess(dimension: 2, length: 10, initialToken: .sparse(scale: 1)),
                                     count: 8, seed: 0, purpose: .trainingBatch)
        let objective = FullBatchObjective(data)
        let start = try LinearCausalAttention.diagonal(dimension: 2, a: 0.5, b: 1.5)
        for bad in [Double.nan, .infinity, 0, -1e-3] {
            #expect(throws: TheoryError.invalid("step size must be finite and positive, got \(bad)")) {
                _ = try GradientDescent(stepSize: bad, steps: 3).run(from: start, on: objective)
            }
        }
        #expect(throws: TheoryError.self) { _ = try GradientDescent(stepSize: 1e-3, steps: -1).run(from: start, on: objective) }
        #expect(throws: TheoryError.self) { _ = try LinearCausalAttention.diagonal(dimension: 2, a: .infinity, b: 1) }
        do {
            _ = try GradientDescent(stepSize: 10, steps: 100).run(from: start, on: objective)
            Issue.record("a step size of 10 should diverge")
        } catch let error as TheoryError {
            guard case let .diverged(step, _, stepSize) = error else { Issue.record("unexpected \(error)"); return }
            #expect(step > 0 && step <= 100 && stepSize == 10)
            #expect(error.description.contains("diverged") && error.description.contains("smaller step size"))
        }
    }

    /// The per-step probe and the per-position profile (two implementations) agree at the last position;
    /// the sparse model at s* = 1/c² recovers every next token; the Gaussian one predicts s*σ² of it on
    /// average, with the non-recovering part of mean square s²κ3/(t−1).
    @Test func capabilityMeasurements() throws {
        let T = 20
        for (distribution, s) in [(InitialTokenDistribution.sparse(scale: 2), 0.25), (.gaussian(sigma: 1), 0.2)] {
            let process = ARProcess(dimension: 3, length: T, initialToken: distribution)
            let data = try ARSequenceSet(process, count: 3000, seed: 7, purpose: .testBatch)
            let model = try LinearCausalAttention.diagonal(dimension: 3, a: s / 0.5, b: 0.5)
            let probe = LastPositionProbe(data).metrics(model, gdStepSize: 0.9 * s)
            let profile = PositionProfile.measure(model, on: data, gdStepSize: 0.9 * s)
            #expect(abs(probe.testError - profile.testError.last!) <= 1e-10 * max(profile.testError.last!, 1e-20))
            #expect(abs(probe.ratio - profile.ratio.last!) <= 1e-10)
            #expect(abs(probe.gdGap - profile.gdGap.last!) <= 1e-10)
            // The GD predictor with 0.9 s is 10% away from the model ŷ = s z.
            #expect(abs(profile.gdGapOverall - 0.1 / 0.9) < 1e-10)
            let prediction = try EmergencePrediction(process)
            if case .sparse = distribution {
                #expect(profile.testError.allSatisfy { $0 < 1e-24 })
                #expect(abs(probe.ratio - 1) < 1e-12)
            } else {
                #expect(abs(probe.ratio / prediction.expectedRatio - 1) < 0.1, "ratio \(probe.ratio)")
                let relative = zip(profile.positions, profile.capabilityResidual).map { t, r in
                    r / prediction.capabilityResidual(position: t, stepSize: s)
                }
                let mean = relative.reduce(0, +) / Double(relative.count)
                #expect(abs(mean - 1) < 0.1, "measured / predicted residual \(mean)")
            }
        }
    }
}
