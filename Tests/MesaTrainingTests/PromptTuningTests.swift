import Foundation
import Testing
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Prompt tuning (SPEC §6): the layout of learned tokens, their insertion into the model's
/// input, the loss mask, freezing, continual sequences and the tuning run directory.
@Suite struct PromptTuningTests {
    /// Where a state shows in each token construction (SPEC §1): the blocks that hold s_t, and
    /// the s_{t−1} block of the next position unless t is the last.
    @Test func appearancesFollowTheConstructions() {
        func cells(_ c: TokenConstruction, _ t: Int) -> [[Int]] {
            c.appearances(ofStateAt: t, length: 5, dimension: 3).map { [$0.position, $0.column] }
        }
        #expect(cells(.raw, 2) == [[2, 0]])
        #expect(cells(.constructed, 2) == [[2, 3], [2, 6], [3, 9]])
        #expect(cells(.constructedMasked, 2) == [[2, 6], [3, 9]])
        #expect(cells(.constructed, 4) == [[4, 3], [4, 6]])
        // The same cells hold s_t in the constructed tokens themselves.
        let states = Tensor(shape: [1, 5, 3], (0..<15).map(Double.init))
        for c in [TokenConstruction.constructed, .constructedMasked] {
            let e = c.tokens(from: states).doubles
            for a in c.appearances(ofStateAt: 2, length: 5, dimension: 3) {
                #expect(Array(e[(a.position * 12 + a.column)..<(a.position * 12 + a.column + 3)]) == [6, 7, 8])
            }
        }
    }

    /// A trained model's run directory: linear-2 (constructed tokens) or linear-deep-1 (raw), a few steps.
    static func modelRun(raw: Bool = false) throws -> URL {
        var c = try smallConfig(steps: 2)
        if raw {
            var d = try Presets.config("linear-deep-1")
            d.steps = 2
            d.batchSize = 8
            d.length = 12
            d.evalBatchSize = 8
            d.evalEvery = 2
            c = d
        }
        let url = temporaryDirectory("model")
        _ = try TrainingRun.run(config: c, in: RunDirectory(url), resume: false, progress: false)
        return url
    }

    static func tuneConfig(_ model: URL, kind: String, steps: Int = 3, pairs: Int = 3, tasks: Int = 1) throws -> TuneConfig {
        let (config, _, step) = try TuningRun.loadModel(model)
        var t = TuneConfig(kind: kind, model: model.path, modelStep: step, modelConfig: config, pairs: pairs, prefix: 4,
                           tasks: tasks, steps: steps, batchSize: 6)
        t.evalBatchSize = 8
        t.evalEvery = 2
        t.checkpointEvery = 2
        return t
    }

    @Test func layoutPlacesLearnedTokens() throws {
        let eos = PromptLayout(eos: true, pairs: 2)
        #expect(eos.slots == [.data(index: 0), .data(index: 1), .learned(row: 0), .data(index: 2), .data(index: 3), .learned(row: 0)])
        #expect(eos.queryPositions == [0, 3] && eos.length == 6 && eos.learnedRows == 1)
        let prefix = PromptLayout(prefix: 3, pairs: 2, tasks: 2)
        #expect(prefix.length == 11 && prefix.queryPositions == [3, 5, 7, 9] && prefix.positions(ofRow: 2) == [2])
        #expect(throws: ConfigError.self) { try PromptLayout(pairs: -1).validate() }
        #expect(throws: ConfigError.self) { try PromptLayout(pairs: 2, tasks: 0).validate() }
    }

    /// The laid-out batch keeps the data at its positions, zeros where tokens are learned, and
    /// scores only the x_i, whose targets are the y_i.
    @Test func laidOutBatchScoresOnlyTheYs() {
        let layout = PromptLayout(prefix: 1, eos: true, pairs: 3)
        let plain = layout.dataBatch(dimension: 2, size: 2, seed: 3, purpose: .experiment, dtype: .float64)
        let b = layout.laidOut(plain)
        let (x, y, m) = (b.inputs.doubles, b.targets.doubles, b.lossMask!.doubles)
        let (s, t) = (plain.inputs.doubles, plain.targets.doubles)
        #expect(b.length == 10 && m == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0])
        for (p, slot) in layout.slots.enumerated() {
            for seq in 0..<2 {
                let at = (seq * 10 + p) * 2
                switch slot {
                case .learned: #expect(x[at] == 0 && x[at + 1] == 0)
                case let .data(i):
                    let from = (seq * 6 + i) * 2
                    #expect(Array(x[at..<(at + 2)]) == Array(s[from..<(from + 2)]))
                    // The target of x_i is y_i, the plain sequence's next element.
                    if i % 2 == 0 { #expect(Array(y[at..<(at + 2)]) == Array(t[from..<(from + 2)])) }
                }
            }
        }
        // y_i = W x_i: one teacher's pairs are the few-shot task's own sequence.
        let fewShot = FewShotRegression(dimension: 2).batch(pairs: 3, size: 2, seed: 3, purpose: .experiment, dtype: .float64)
        #expect(fewShot.inputs.doubles == s)
    }

    /// Two teachers in a row: y = W₁x holds through the first task's pairs, y = W₂x through the
    /// second's, and W₁ does not explain the second task.
    @Test func continualSequencesSwitchTeacher() throws {
        let n = 3, pairs = 5
        let layout = PromptLayout(eos: true, pairs: pairs, tasks: 2)
        let s = layout.dataBatch(dimension: n, size: 1, seed: 9, purpose: .experiment, dtype: .float64).inputs.doubles
        func pair(_ i: Int) -> (x: [Double], y: [Double]) {
            (Array(s[(2 * i * n)..<((2 * i + 1) * n)]), Array(s[((2 * i + 1) * n)..<((2 * i + 2) * n)]))
        }
        /// Wᵀ from n pairs starting at `first`: X Wᵀ = Y.
        func fit(_ first: Int) -> [Double] {
            let ps = (first..<(first + n)).map(pair)
            return Linalg.solve(ps.flatMap(\.x), ps.flatMap(\.y), n, n)!
        }
        func residual(_ wT: [Double], _ p: (x: [Double], y: [Double])) -> Double {
            let pred = Linalg.matmul(p.x, wT, 1, n, n)
            return zip(pred, p.y).map { abs($0 - $1) }.max()!
        }
        let w1 = fit(0), w2 = fit(pairs)
        #expect(residual(w1, pair(pairs - 1)) < 1e-9 && residual(w2, pair(2 * pairs - 1)) < 1e-9)
        #expect(residual(w1, pair(pairs)) > 0.1)
        #expect(layout.queryPositions.count == 2 * pairs && layout.length == 6 * pairs)
    }

    /// The learned tokens enter as states: a raw model sees the EOS as the token itself, a
    /// constructed model sees it in the s_t blocks of its position and the s_{t−1} block of the next.
    @Test func insertionFollowsTheTokenConstruction() throws {
        for raw in [true, false] {
            let run = try Self.modelRun(raw: raw)
            let objective = try TuningRun.objective(Self.tuneConfig(run, kind: "eos"))
            let layout = objective.layout, n = 10
            let batch = layout.laidOut(layout.dataBatch(dimension: n, size: 2, seed: 1, purpose: .experiment))
            let x = objective.input(for: batch).value.doubles
            let plain = objective.tokens.tokens(from: batch.inputs).doubles
            let e = objective.eos!.value.doubles
            let width = raw ? n : 4 * n
            for (p, slot) in layout.slots.enumerated() {
                let row = Array(x[(p * width)..<((p + 1) * width)]), base = Array(plain[(p * width)..<((p + 1) * width)])
                let afterEOS = p > 0 && layout.slots[p - 1] == .learned(row: 0)
                if raw {
                    #expect(row == (slot == .learned(row: 0) ? e : base))
                } else if slot == .learned(row: 0) {
                    #expect(Array(row[0..<n]) == Array(repeating: 0, count: n))
                    #expect(Array(row[n..<(2 * n)]) == e && Array(row[(2 * n)..<(3 * n)]) == e)
                } else if afterEOS {
                    #expect(Array(row[(3 * n)..<(4 * n)]) == e && Array(row[0..<(3 * n)]) == Array(base[0..<(3 * n)]))
                } else {
                    #expect(row == base)
                }
            }
        }
    }

    /// Only the x_i positions count: changing the target anywhere else changes neither the loss
    /// nor the tokens' gradient, and the loss is ½‖ŷ_i − y_i‖² averaged over the scored positions.
    @Test func lossCountsOnlyThePredictedYs() throws {
        let objective = try TuningRun.objective(Self.tuneConfig(try Self.modelRun(raw: true), kind: "eos"))
        let batch = objective.trainingBatch(step: 0)!
        var scrambled = batch.targets.doubles
        let mask = batch.lossMask!.doubles
        for i in mask.indices where mask[i] == 0 { for j in 0..<10 { scrambled[i * 10 + j] += 5 } }
        let other = SequenceBatch(inputs: batch.inputs, targets: Tensor(shape: batch.targets.shape, scrambled, dtype: .float32),
                                  lossMask: batch.lossMask)
        func lossAndGradient(_ b: SequenceBatch) -> (Double, [Double]) {
            objective.eos!.grad = nil
            let l = objective.loss(on: b)
            l.backward()
            return (l.value.item, objective.eos!.grad!.doubles)
        }
        let (l1, g1) = lossAndGradient(batch), (l2, g2) = lossAndGradient(other)
        #expect(l1 == l2 && g1 == g2 && g1.contains { $0 != 0 })
        // The mean of the per-pair errors is the loss (every pair has one scored position per sequence).
        let perPair = objective.errorPerPair(on: batch)
        #expect(abs(perPair.reduce(0, +) / Double(perPair.count) - l1) < 1e-5 * l1)
    }

    /// A tuning run changes only its tokens: the model's bytes (in memory and on disk) stay, no
    /// model parameter holds a gradient, the optimizer and the checkpoint hold the tokens alone.
    @Test func frozenModelStaysByteForByte() throws {
        let run = try Self.modelRun()
        let modelFiles = try FileManager.default.contentsOfDirectory(atPath: run.path).sorted()
        let checkpointBytes = try Data(contentsOf: run.appendingPathComponent("checkpoint.safetensors"))
        let config = try Self.tuneConfig(run, kind: "prefix", steps: 4)
        let dir = RunDirectory(temporaryDirectory("tune"))
        let objective = try TuningRun.objective(config)
        let before = objective.model.stateTensors
        let trainer = try Trainer(config: config.trainConfig(), model: objective.model, objective: objective)
        let initial = objective.prefix!.value.doubles
        for _ in 0..<4 { _ = try trainer.trainStep() }
        #expect(objective.model.stateTensors.allSatisfy { $0.value.doubles == before[$0.key]!.doubles })
        #expect(objective.model.parameters.allSatisfy { $0.variable.grad == nil && !$0.variable.requiresGrad })
        #expect(objective.prefix!.value.doubles != initial)
        #expect(Set(trainer.checkpoint().tensors.keys) == ["prompt.prefix", "adam.m.prompt.prefix", "adam.v.prompt.prefix"])
        // Through the run directory: the model's run is untouched.
        let summary = try TuningRun.run(config: config, in: dir, resume: false, progress: false)
        #expect(summary.outcome == .finished && summary.steps == 4)
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path).sorted() == modelFiles)
        #expect(try Data(contentsOf: run.appendingPathComponent("checkpoint.safetensors")) == checkpointBytes)
        let saved = try Safetensors.read(dir.checkpointURL)
        #expect(saved.tensors["prompt.prefix"]!.shape == [4, 10] && saved.tensors.keys.allSatisfy { $0.contains("prompt.") })
        #expect(saved.tensors["prompt.prefix"]!.doubles == objective.prefix!.value.doubles)
    }

    /// Stopped after 2 steps and resumed, a tuning run ends with the bytes of an uninterrupted one.
    @Test func resumedTuningMatchesUninterrupted() throws {
        let run = try Self.modelRun()
        let config = try Self.tuneConfig(run, kind: "eos", steps: 4, tasks: 2)
        let whole = RunDirectory(temporaryDirectory("whole")), split = RunDirectory(temporaryDirectory("split"))
        _ = try TuningRun.run(config: config, in: whole, resume: false, progress: false)
        var calls = 0
        let first = try TuningRun.run(config: config, in: split, resume: false, progress: false) {
            calls += 1
            return calls > 2
        }
        #expect(first.outcome == .interrupted && first.steps == 2)
        _ = try TuningRun.run(config: config, in: split, resume: true, progress: false)
        let a = try Safetensors.read(whole.checkpointURL).tensors["prompt.eos"]!.doubles
        let b = try Safetensors.read(split.checkpointURL).tensors["prompt.eos"]!.doubles
        #expect(a == b)
        let loaded = try TuningRun.load(split)
        #expect(loaded.step == 4 && loaded.objective.eos!.value.doubles == a && loaded.config == config)
        // Continual: one error per pair of both tasks.
        let held = loaded.objective.heldOutBatch()!
        #expect(loaded.objective.errorPerPair(on: held).count == 2 * config.layout.pairs)
    }

    @Test func badTuningInputIsRefusedByName() throws {
        let run = try Self.modelRun()
        let missing = run.deletingLastPathComponent().appendingPathComponent("nothing")
        #expect { try TuningRun.loadModel(missing) } throws: { "\($0)".contains(missing.path) }
        var config = try Self.tuneConfig(run, kind: "eos")
        let dir = RunDirectory(temporaryDirectory("tune"))
        // Into the model's own directory: refused, nothing written.
        let modelConfig = try Data(contentsOf: RunDirectory(run).configURL)
        #expect(throws: TrainingError.self) { try TuningRun.run(config: config, in: RunDirectory(run), resume: false, progress: false) }
        #expect(try Data(contentsOf: RunDirectory(run).configURL) == modelConfig)
        config.layout.pairs = -2
        #expect { try TuningRun.run(config: config, in: dir, resume: false, progress: false) } throws: { "\($0)".contains("layout.pairs") }
        config.layout.pairs = 3
        config.learningRate = -1
        #expect { try TuningRun.run(config: config, in: dir, resume: false, progress: false) } throws: { "\($0)".contains("learningRate") }
        #expect(!FileManager.default.fileExists(atPath: dir.url.path))
        // A model trained further since the tuning began is noticed.
        config.learningRate = 1e-3
        config.modelStep = 1
        #expect { try TuningRun.objective(config) } throws: { "\($0)".contains("step 2") }
    }
}
