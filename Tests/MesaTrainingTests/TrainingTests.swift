import Foundation
import Testing
import MesaNN
import MesaTensor
import MesaTraining

@Suite struct TrainingTests {
    @Test func sameSeedSameNumbers() throws {
        let c = try smallConfig()
        let a = try Trainer(config: c), b = try Trainer(config: c)
        for _ in 0..<6 {
            let ra = try a.trainStep(), rb = try b.trainStep()
            #expect(ra.loss == rb.loss && ra.gradientNorm == rb.gradientNorm)
        }
        #expect(a.evaluate() == b.evaluate())
        var other = c
        other.seed = 1
        #expect(try Trainer(config: other).trainStep().loss != (try Trainer(config: c).trainStep().loss))
    }

    /// Training on one, two and three workers gives the same bytes: every loss, gradient norm,
    /// parameter and AdamW moment (the kernels split their work by worker but reduce in fixed parts).
    @Test func threadCountDoesNotChangeTraining() throws {
        var c = try smallConfig(steps: 4)
        c.batchSize = 64  // B·T = 768 rows: enough for every row-split kernel (LayerNorm's grain is 256) to use 3 workers
        let runs = try [1, 2, 3].map { n in
            try Parallel.withWorkers(n) { () -> (losses: [Double], state: [String: [Double]]) in
                let trainer = try Trainer(config: c)
                var losses: [Double] = []
                for _ in 0..<c.steps {
                    let r = try trainer.trainStep()
                    losses += [r.loss, r.gradientNorm]
                }
                losses.append(trainer.evaluate())
                return (losses, trainer.checkpoint().tensors.mapValues(\.doubles))
            }
        }
        #expect(runs[0].losses.allSatisfy(\.isFinite) && runs[0].losses[0] != runs[0].losses[2 * c.steps - 2])
        for (n, r) in zip([2, 3], runs.dropFirst()) {
            #expect(r.losses == runs[0].losses, "\(n) workers: losses differ")
            #expect(r.state == runs[0].state, "\(n) workers: parameters differ")
        }
    }

    /// An interrupted run resumed to the end reaches the same parameters, optimizer state and
    /// metrics, bit for bit, as one that ran straight through.
    @Test func resumeReachesTheSameNumbers() throws {
        let c = try smallConfig(steps: 12)
        let straight = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: straight, resume: false, progress: false)

        let resumed = RunDirectory(temporaryDirectory())
        var calls = 0
        let first = try TrainingRun.run(config: c, in: resumed, resume: false, progress: false,
                                        shouldStop: { calls += 1; return calls > 6 })
        #expect(first.outcome == .interrupted && first.steps == 6)
        let second = try TrainingRun.run(config: c, in: resumed, resume: true, progress: false, shouldStop: { false })
        #expect(second.outcome == .finished && second.steps == 12)

        let a = try straight.readCheckpoint(), b = try resumed.readCheckpoint()
        #expect(a.metadata["step"] == "12" && b.metadata["step"] == "12")
        #expect(Set(a.tensors.keys) == Set(b.tensors.keys))
        for (name, t) in a.tensors {
            let same = t.doubles == b.tensors[name]!.doubles
            #expect(same, "\(name) differs: relative error \(t.relativeError(to: b.tensors[name]!))")
        }
        #expect(try String(contentsOf: straight.metricsURL, encoding: .utf8)
                == String(contentsOf: resumed.metricsURL, encoding: .utf8))
    }

    @Test func extendingARunWithMoreSteps() throws {
        var c = try smallConfig(steps: 8)
        let dir = RunDirectory(temporaryDirectory())
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        c.steps = 12
        let s = try TrainingRun.run(config: c, in: dir, resume: true, progress: false)
        #expect(s.steps == 12)
        #expect(try dir.readConfig().steps == 12)
        #expect(try dir.readMetrics().map(\.step) == Array(0...12))
    }

    /// A short run must learn: linear-1 leaves its plateau (prediction 0, loss ≈ n/6 ≈ 1.67 at
    /// the first position) and gets below 0.95 on the held-out batch (GD-1 reaches ~0.88).
    @Test func shortTrainingRunLearns() throws {
        var c = try Presets.config("linear-1")
        c.steps = 400
        c.batchSize = 64
        c.evalBatchSize = 256
        c.schedule = WarmupCosineSchedule(peak: 1e-3, warmupSteps: 200, horizon: 200)
        let trainer = try Trainer(config: c)
        let initial = trainer.evaluate()
        for _ in 0..<c.steps { _ = try trainer.trainStep() }
        let final = trainer.evaluate()
        #expect(initial > 1.4)
        #expect(final < 0.95, "held-out loss after 400 steps: \(final)")
    }

    @Test func divergenceStopsAndKeepsTheLastCheckpoint() throws {
        var c = try smallConfig(steps: 12)
        c.schedule.peak = 1e8
        c.schedule.warmupSteps = 0
        c.clipping = .none
        c.model.initStd = 1
        let dir = RunDirectory(temporaryDirectory())
        var error: Error?
        do { _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false) } catch let e { error = e }
        guard case let .diverged(step, what)? = error as? TrainingError else {
            Issue.record("expected divergence, got \(String(describing: error))")
            return
        }
        #expect(step >= 1 && !what.isEmpty)
        // Whatever checkpoint exists holds finite numbers only.
        if dir.hasCheckpoint {
            for (_, t) in try dir.readCheckpoint().tensors { #expect(t.isFinite) }
        }
    }

    @Test func trainStepRejectsNonFiniteParametersWithoutChangingThem() throws {
        let trainer = try Trainer(config: smallConfig())
        let p = trainer.model.parameters[0].variable
        var poisoned = p.value
        poisoned.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] = .nan }
        p.assign(poisoned)
        let before = trainer.model.stateTensors.mapValues(\.doubles)
        #expect(throws: TrainingError.self) { try trainer.trainStep() }
        #expect(trainer.step == 0)
        for (k, v) in trainer.model.stateTensors { #expect(v.doubles.elementsEqual(before[k]!) { $0 == $1 || ($0.isNaN && $1.isNaN) }) }
    }
}

@Suite struct OptimizerTests {
    @Test func scheduleShape() {
        let s = WarmupCosineSchedule(peak: 1e-3, warmupSteps: 10, horizon: 100, final: 1e-5)
        #expect(s(0) == 0)
        #expect(abs(s(5) - 5e-4) < 1e-15)
        #expect(abs(s(10) - 1e-3) < 1e-15)
        #expect(abs(s(60) - (1e-5 + (1e-3 - 1e-5) * 0.5)) < 1e-12)
        #expect(s(110) == 1e-5 && s(1000) == 1e-5)
    }

    /// Two AdamW updates of one parameter against the formulas written out by hand.
    @Test func adamWMatchesItsFormula() {
        let v = Variable(Tensor(shape: [2], [1.0, -2.0]), requiresGrad: true)
        let opt = AdamW(parameters: [NamedParameter("w", v)], settings: .init(weightDecay: 0.1))
        var p = [1.0, -2.0], m = [0.0, 0.0], s = [0.0, 0.0]
        for (step, g) in [[0.5, -3.0], [0.2, 4.0]].enumerated() {
            v.grad = Tensor(shape: [2], g)
            opt.update(learningRate: 0.01, clipping: .elementwise(1))
            let t = Double(step + 1)
            for i in 0..<2 {
                let gc = min(max(g[i], -1), 1)
                m[i] = 0.9 * m[i] + 0.1 * gc
                s[i] = 0.999 * s[i] + 0.001 * gc * gc
                let mh = m[i] / (1 - pow(0.9, t)), sh = s[i] / (1 - pow(0.999, t))
                p[i] -= 0.01 * (mh / (sh.squareRoot() + 1e-8) + 0.1 * p[i])
            }
            #expect(zip(v.value.doubles, p).allSatisfy { abs($0 - $1) < 1e-14 })
            #expect(v.grad == nil)
        }
        // Global-norm clipping rescales the whole gradient.
        v.grad = Tensor(shape: [2], [3.0, 4.0])
        #expect(opt.update(learningRate: 0, clipping: .globalNorm(1)) == 5)
    }
}

@Suite struct MesaTrainingTests {
    func tinyHybrid() throws -> TrainConfig {
        var c = try Presets.config("hybrid-mesa")
        c.steps = 4
        c.batchSize = 4
        c.length = 8
        c.evalBatchSize = 4
        c.evalEvery = 2
        c.checkpointEvery = 2
        return c
    }

    @Test func aBadLambdaStopsTrainingAndNamesTheLayer() throws {
        let dir = RunDirectory(temporaryDirectory())
        var c = try tinyHybrid()
        c.steps = 2
        _ = try TrainingRun.run(config: c, in: dir, resume: false, progress: false)
        let before = try Data(contentsOf: dir.checkpointURL)
        // Resume with a checkpoint whose λ went negative.
        var file = try dir.readCheckpoint()
        file.tensors["layers.1.attn.lambda"] = Tensor(shape: [4], [1, -0.5, 1, 1], dtype: .float32)
        try Safetensors.write(file, to: dir.checkpointURL)
        let poisoned = try Data(contentsOf: dir.checkpointURL)
        c.steps = 4
        do {
            _ = try TrainingRun.run(config: c, in: dir, resume: true, progress: false)
            Issue.record("trained on with a negative λ")
        } catch let e as TrainingError {
            #expect(e.description.contains("layer 2") && e.description.contains("head 2") && e.description.contains("λ"))
        }
        #expect(try Data(contentsOf: dir.checkpointURL) == poisoned)
        #expect(before != poisoned)
    }

    @Test func unknownLayerKindsAndMisfitDimensionsAreRejected() throws {
        let c = try tinyHybrid()
        do {
            _ = try c.setting("model.layers", to: #"["softmax", "bogus"]"#)
            Issue.record("accepted an unknown layer kind")
        } catch {
            #expect("\(error)".contains("model.layers") && "\(error)".contains(AttentionKinds.names.joined(separator: ", ")))
        }
        // Every registered kind is accepted, and a kind built in code that is not is refused.
        for name in AttentionKinds.names { _ = try c.setting("model.layers", to: #"["softmax", "\#(name)"]"#).validate() }
        var bad = c
        bad.model.layers = [.softmax, LayerKind(rawValue: "bogus")]
        #expect { try bad.validate() } throws: { "\($0)".contains("layer 2: unknown kind 'bogus'") }
        bad = c
        bad.model.positionalEncoding = 7
        #expect(throws: (any Error).self) { try bad.validate() }
        bad = c
        bad.model.mesaForget = 1.5
        #expect(throws: (any Error).self) { try bad.validate() }
        bad = c
        bad.model.mlpHidden = 0
        #expect(throws: (any Error).self) { try bad.validate() }
    }

    /// Forty updates on one batch must fit it better: every kind of model learns.
    @Test func everyModelOfTheFamilyFitsABatch() throws {
        for preset in ["softmax-7", "hybrid-mesa", "full-mesa", "linear-deep-2"] {
            var c = try Presets.config(preset)
            c.batchSize = 16
            c.length = 20
            c.schedule.warmupSteps = 0
            let trainer = try Trainer(config: c)
            let batch = trainer.trainingBatch(step: 0)
            let first = try trainer.update(on: batch).loss
            var last = first
            for _ in 0..<40 { last = try trainer.update(on: batch).loss }
            #expect(last < 0.8 * first, "\(preset): \(first) → \(last)")
        }
    }
}
