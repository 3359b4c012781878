import Foundation
import Testing
import MesaAnalysis
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Well-conditioned in-context problems: i.i.d. N(0, I) states, so G_t ≈ t·I once t ≫ n.
func gaussianStates(batch: Int = 3, length: Int = 40, n: Int = 3, seed: UInt64 = 5) -> StateSequences {
    var stream = RandomStream(seed: seed, purpose: .testBatch)
    let x = (0..<(batch * (length + 1) * n)).map { _ in stream.normal() }
    var inputs: [Double] = [], targets: [Double] = []
    for b in 0..<batch {
        let base = b * (length + 1) * n
        inputs += x[base..<(base + length * n)]
        targets += x[(base + n)..<(base + (length + 1) * n)]
    }
    return StateSequences(inputs: Tensor(shape: [batch, length, n], inputs), targets: Tensor(shape: [batch, length, n], targets))
}

func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

@Suite struct MultiStepGDTests {
    @Test func oneStepIsGDOne() {
        let s = states()
        let gd = MultiStepGD.predictions(s, steps: 1, eta: 0.07)
        #expect(maxAbsDifference(gd, Baselines.gdOne(s, eta: 0.07)) < 1e-13)
        #expect(maxAbsDifference(gd, MultiStepGD.predictions(s, steps: 2, eta: 0.07)) > 1e-4)
    }

    @Test func onePreconditionedStepIsRidge() {
        let s = states()
        let pgd = MultiStepGD.predictions(s, steps: 1, eta: 1, preconditioner: .ridge(lambda: 0.3))
        #expect(maxAbsDifference(pgd, Baselines.ridge(s, lambda: 0.3)) < 1e-10)
    }

    /// On a well-conditioned problem k plain steps converge to least squares: the error at the
    /// late positions (G_t well conditioned) falls with k and vanishes.
    @Test func manyStepsApproachLeastSquares() {
        let s = gaussianStates()
        let lsq = Baselines.ridge(s, lambda: 1e-12)
        let late = (0..<s.batch).flatMap { b in (20..<s.length).flatMap { t in (0..<s.dimension).map { (b * s.length + t) * s.dimension + $0 } } }
        func error(_ k: Int) -> Double {
            let p = MultiStepGD.predictions(s, steps: k, eta: 1.0 / 150)
            return late.map { abs(p[$0] - lsq[$0]) }.max()!
        }
        let errors = [1, 10, 50, 400].map(error)
        #expect(zip(errors, errors.dropFirst()).allSatisfy { $0 > $1 }, "\(errors)")
        #expect(errors.last! < 1e-6, "\(errors)")
        #expect(errors.first! > 0.1, "\(errors)")
    }

    @Test func lineSearchFindsTheOneStepOptimum() {
        let s = states(batch: 8, length: 20)
        let closedForm = Baselines.lineSearch(direction: Baselines.gradientStepDirection(s), targets: s.targets)
        let searched = MultiStepGD.lineSearch(s, steps: 1)
        #expect(abs(searched - closedForm) / closedForm < 1e-3, "\(searched) vs \(closedForm)")
    }
}

@Suite struct SoftmaxKernelRegressionTests {
    @Test func zeroTemperatureAveragesTheSuccessors() {
        let s = states(batch: 2, length: 8, n: 3)
        let p = SoftmaxKernelRegression.predictions(s, beta: 0)
        for b in 0..<s.batch {
            for i in 0..<s.dimension { #expect(p[(b * s.length) * s.dimension + i] == 0) }
            for t in 2...s.length {
                for i in 0..<s.dimension {
                    let mean = (2...t).map { s.state(b, $0, i) }.reduce(0, +) / Double(t - 1)
                    #expect(abs(p[(b * s.length + t - 1) * s.dimension + i] - mean) < 1e-12)
                }
            }
        }
    }

    @Test func sharpKernelCopiesTheSuccessorOfTheMostSimilarState() {
        let s = states(batch: 1, length: 10, n: 3)
        let p = SoftmaxKernelRegression.predictions(s, beta: 1e6)
        let t = 10
        let best = (1..<t).max { a, b in
            (0..<3).map { s.state(0, a, $0) * s.state(0, t, $0) }.reduce(0, +)
                < (0..<3).map { s.state(0, b, $0) * s.state(0, t, $0) }.reduce(0, +)
        }!
        for i in 0..<3 { #expect(abs(p[(t - 1) * 3 + i] - s.state(0, best + 1, i)) < 1e-9) }
    }
}

@Suite struct PropositionTwoTests {
    @Test func zeroPreconditioningStepsIsGDOne() {
        let s = states()
        let p = PropositionTwo(alpha: [], beta: [], mu: 0.5, eta: 0.07)
        #expect(maxAbsDifference(p.predictions(s), Baselines.gdOne(s, eta: 0.07)) < 1e-13)
    }

    /// Many small Richardson steps invert G_t + μI: Prop-2 becomes ridge regression with λ = μ.
    @Test func manyRichardsonStepsAreRidge() {
        let s = gaussianStates(length: 12)
        let k = 2000
        let p = PropositionTwo(alpha: Array(repeating: 1.0 / 40, count: k), beta: Array(repeating: 0, count: k), mu: 0.5, eta: 1)
        #expect(maxAbsDifference(p.predictions(s), Baselines.ridge(s, lambda: 0.5)) < 1e-8)
        let few = PropositionTwo(alpha: [1.0 / 40], beta: [0], mu: 0.5, eta: 1)
        #expect(maxAbsDifference(few.predictions(s), Baselines.ridge(s, lambda: 0.5)) > 0.1)
    }

    @Test func differentiableFormMatchesTheReferenceAndItsGradients() {
        let s = states(batch: 3, length: 7, n: 3)
        let p = PropositionTwo(alpha: [0.1, 0.05, 0.2], beta: [0.0, 0.3, -0.1], mu: 0.7, eta: 0.4)
        let objective = PropositionTwoObjective(p)
        #expect(objective.current == p)
        #expect(maxAbsDifference(objective.predictions(s).value.doubles, p.predictions(s)) < 1e-12)
        let targets = Tensor(shape: [s.batch, s.length, s.dimension], s.targets)
        let errors = GradCheck.relativeErrors(parameters: objective.parameters.map(\.variable)) {
            halfSquaredError(objective.predictions(s), targets)
        }
        #expect(errors.allSatisfy { $0 < 1e-6 }, "\(errors)")
    }

    /// Fitting two steps from GD-1 lowers the held-out loss below GD-1's.
    @Test func fittedStepSizesBeatGDOne() throws {
        var config = try Presets.config("linear-2")
        config.steps = 60
        config.batchSize = 16
        config.length = 20
        config.schedule = WarmupCosineSchedule(peak: 0.05, warmupSteps: 5, horizon: 60)
        let task = try config.task.makeTask(seed: 3)
        let held = task.batch(size: 64, length: 20, seed: 3, purpose: .validationBatch, dtype: .float64)
        let s = StateSequences(inputs: held.inputs, targets: held.targets)
        let eta = Baselines.lineSearch(direction: Baselines.gradientStepDirection(s), targets: s.targets)
        let fitted = try PropositionTwo.fit(steps: 2, initialEta: eta, config: config)
        let gdOne = s.loss(of: Baselines.gdOne(s, eta: eta)).reduce(0, +)
        let prop2 = s.loss(of: fitted.predictions(s)).reduce(0, +)
        #expect(prop2 < 0.95 * gdOne, "Prop-2 \(prop2) vs GD-1 \(gdOne); fitted \(fitted)")
    }
}

@Suite struct CompressedAlgorithmTests {
    /// [VO] Prop. 1: one layer, one head, W_KᵀW_Q = E_{32}⊗I and P W_V = η E_{02}⊗I is GD-1 exactly.
    @Test func propositionOneScalarsAreGDOne() {
        let s = states()
        let alg = CompressedAlgorithm.propositionOne(eta: 0.07)
        #expect(maxAbsDifference(alg.predictions(s, tokens: .constructedMasked), Baselines.gdOne(s, eta: 0.07)) < 1e-13)
        let objective = CompressedAlgorithmObjective(layers: 1, heads: 1, dimension: s.dimension, tokens: .constructedMasked,
                                                     activationClip: nil, initStd: 0, seed: 0, dtype: .float64)
        objective.assign(alg)
        let fast = objective.predictions(Tensor(shape: [s.batch, s.length, s.dimension], s.inputs)).value.doubles
        #expect(maxAbsDifference(fast, Baselines.gdOne(s, eta: 0.07)) < 1e-12)
    }

    @Test func fusedFormMatchesTheReferenceAndItsGradients() {
        let s = states(batch: 2, length: 6, n: 3)
        let objective = CompressedAlgorithmObjective(layers: 2, heads: 2, dimension: 3, tokens: .constructed,
                                                     activationClip: 1.5, initStd: 0.3, seed: 4, dtype: .float64)
        let alg = objective.current
        #expect(alg.layers == 2 && alg.heads == 2)
        let inputs = Tensor(shape: [s.batch, s.length, s.dimension], s.inputs)
        let reference = alg.predictions(s, tokens: .constructed)
        #expect(maxAbsDifference(objective.predictions(inputs).value.doubles, reference) < 1e-12)
        #expect(reference.contains { abs($0) == 1.5 }, "the clip is exercised")
        let batch = SequenceBatch(inputs: inputs, targets: Tensor(shape: inputs.shape, s.targets))
        let errors = GradCheck.relativeErrors(parameters: objective.parameters.map(\.variable)) { objective.loss(on: batch) }
        #expect(errors.allSatisfy { $0 < 1e-5 }, "\(errors)")
    }
}

@Suite struct InterpolationTests {
    /// One layer without clipping: the interpolated model predicts ½ (free linear layer) + ½ (CompressedAlg-1).
    @Test func averagedProductsAverageThePredictions() {
        let s = states(batch: 2, length: 6, n: 3)
        let objective = InterpolatedObjective(layers: 1, heads: 2, dimension: 3, tokens: .constructed, activationClip: nil,
                                              initStd: 0.3, compressedInitStd: 0.3, seed: 9, dtype: .float64)
        let inputs = Tensor(shape: [s.batch, s.length, s.dimension], s.inputs)
        let e = Variable(TokenConstruction.constructed.tokens(from: inputs))
        let f = objective.free[0]
        let free = columns(attentionLayer(AttentionSpec(kind: .linear, heads: 2), e, queryKeyInput: e, wq: f.wq, wk: f.wk,
                                          wv: f.wv, p: f.p), 0..<3).value.doubles
        let compressed = objective.compressed.current.predictions(s, tokens: .constructed)
        let expected = zip(free, compressed).map { 0.5 * $0 + 0.5 * $1 }
        #expect(maxAbsDifference(objective.predictions(inputs).value.doubles, expected) < 1e-12)
        #expect(maxAbsDifference(free, compressed) > 0.01)
        #expect(objective.parameters.count == 4 + 2)
    }
}

@Suite struct CompressedAlgorithmTrainingTests {
    /// A short run leaves the zero-prediction plateau of its small initialization: its held-out
    /// loss falls well below that of predicting 0 (which is where it starts).
    @Test func trainingLowersTheLoss() throws {
        var config = try Presets.config("linear-2")
        config.steps = 120
        config.batchSize = 32
        config.length = 20
        config.schedule = WarmupCosineSchedule(peak: 1e-2, warmupSteps: 20, horizon: 100)
        let alg = try CompressedAlgorithm.train(config: config, initStd: 1e-3)
        let held = try config.task.makeTask(seed: 0).batch(size: 128, length: 20, seed: 0, purpose: .validationBatch, dtype: .float64)
        let s = StateSequences(inputs: held.inputs, targets: held.targets)
        let trained = s.loss(of: alg.predictions(s, tokens: config.tokens)).reduce(0, +)
        let zero = s.loss(of: [Double](repeating: 0, count: s.targets.count)).reduce(0, +)
        #expect(trained < 0.6 * zero, "trained \(trained) vs predicting zero \(zero)")
    }
}
