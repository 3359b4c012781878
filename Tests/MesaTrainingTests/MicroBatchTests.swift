import Foundation
import Testing
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// A training step on micro-batches (issue 14; MicroBatches.swift): the whole batch's loss bit
/// for bit in Float32, the whole batch's gradient up to the order of its sums (checked in Double against
/// the whole batch at once, and in Float32 within rounding), the same bits on any number of
/// workers, and configurations written before the field keep training on the whole batch.
@Suite struct MicroBatchTests {
    /// Every trainable parameter's gradient after `body` (which back-propagates), then cleared.
    static func gradients(_ objective: NextStatePrediction, _ body: () -> Double) -> (loss: Double, grads: [[Double]]) {
        let loss = body()
        let grads = objective.parameters.map { p -> [Double] in
            defer { p.variable.grad = nil }
            return p.variable.grad?.doubles ?? []
        }
        return (loss, grads)
    }

    static func whole(_ objective: NextStatePrediction, _ batch: SequenceBatch) -> (loss: Double, grads: [[Double]]) {
        gradients(objective) {
            let loss = objective.loss(on: batch)
            loss.backward()
            return loss.value.item
        }
    }

    static func objective(_ preset: String, dtype: DType, seed: UInt64 = 3) throws -> (NextStatePrediction, SequenceBatch) {
        var c = try Presets.config(preset)
        (c.batchSize, c.length) = (11, 16)
        let model = try Transformer(config: c.model, seed: seed, dtype: dtype)
        let objective = try NextStatePrediction(model: model, tokens: c.tokens)
        let batch = TaskBatches(task: try c.task.makeTask(seed: c.seed), config: c).trainingBatch(step: 0)
        return (objective, batch)
    }

    /// Largest |a − b| / (|b| + floor) over every gradient entry.
    static func largestRelativeDifference(_ a: [[Double]], _ b: [[Double]], floor: Double) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            #expect(x.count == y.count)
            for (u, v) in zip(x, y) { worst = max(worst, abs(u - v) / (abs(v) + floor)) }
        }
        return worst
    }

    @Test(arguments: ["linear-2", "softmax-7", "hybrid-mesa", "full-mesa"])
    func theWholeBatchsLossAndGradient(preset: String) throws {
        for dtype in [DType.float64, .float32] {
            let (objective, batch) = try Self.objective(preset, dtype: dtype)
            let reference = Self.whole(objective, batch)
            #expect(reference.loss.isFinite && reference.loss > 0.01)
            #expect(reference.grads.allSatisfy { !$0.isEmpty })
            let scale = reference.grads.flatMap { $0 }.map(abs).max()!
            for parts in [1, 2, 3, 4, 11, 40] {
                let split = Self.gradients(objective) { objective.lossAndGradients(on: batch, parts: parts) }
                // Float32: with OpenBLAS's SkylakeX kernels a sequence has the same bits in any
                // batch, so the loss is the whole batch's (with others, to Float32 rounding).
                // Double: OpenBLAS picks its kernel by size, so to rounding.
                if dtype == .float32 && BLASKernels.sequencesKeepTheirBitsInAnyBatch {
                    #expect(split.loss.bitPattern == reference.loss.bitPattern, "\(preset) \(parts) parts: loss \(split.loss) vs \(reference.loss)")
                } else if dtype == .float32 {
                    #expect(abs(split.loss - reference.loss) <= 1e-5 * reference.loss, "\(preset) \(parts) parts: loss \(split.loss) vs \(reference.loss)")
                } else {
                    #expect(abs(split.loss - reference.loss) <= 1e-13 * reference.loss, "\(preset) \(parts) parts: loss \(split.loss) vs \(reference.loss)")
                }
                // Sums over sequences in another order: Double agrees to rounding, Float32 to its rounding.
                let tolerance = dtype == .float64 ? 1e-10 : 2e-3
                let worst = Self.largestRelativeDifference(split.grads, reference.grads, floor: 1e-3 * scale)
                #expect(worst < tolerance, "\(preset) \(dtype) \(parts) parts: gradients differ by \(worst) (relative)")
            }
        }
    }

    /// Few-shot regression scores only the x positions: each piece uses the whole batch's weights.
    @Test func aLossMaskWeighsEveryPieceByTheWholeBatch() throws {
        let (objective, batch) = try ChunkedEvaluationTests.fewShot(dtype: .float64, purpose: .trainingBatch)
        let reference = Self.whole(objective, batch)
        let scale = reference.grads.flatMap { $0 }.map(abs).max()!
        for parts in [2, 4, 9] {
            let split = Self.gradients(objective) { objective.lossAndGradients(on: batch, parts: parts) }
            #expect(abs(split.loss - reference.loss) <= 1e-13 * reference.loss, "\(parts) parts")
            #expect(Self.largestRelativeDifference(split.grads, reference.grads, floor: 1e-3 * scale) < 1e-10, "\(parts) parts")
        }
    }

    /// The pieces are the configuration's, not the threads': the same bits on 1, 2 and 3 workers.
    @Test(arguments: ["softmax-7", "linear-2"])
    func sameBitsOnAnyNumberOfWorkers(preset: String) throws {
        let (objective, batch) = try Self.objective(preset, dtype: .float32)
        let one = Parallel.withWorkers(1) { Self.gradients(objective) { objective.lossAndGradients(on: batch, parts: 4) } }
        for workers in [2, 3, 8] {
            let other = Parallel.withWorkers(workers) { Self.gradients(objective) { objective.lossAndGradients(on: batch, parts: 4) } }
            #expect(other.loss.bitPattern == one.loss.bitPattern, "\(workers) workers")
            #expect(other.grads.map { $0.map(\.bitPattern) } == one.grads.map { $0.map(\.bitPattern) }, "\(workers) workers")
        }
    }

    @Test func configurationsBeforeTheFieldTrainOnTheWholeBatch() throws {
        let c = try Presets.config("linear-1")
        #expect(c.microBatches == TrainConfig.defaultMicroBatches && c.microBatches > 1)
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as! [String: Any]
        #expect(json["microBatches"] as? Int == c.microBatches)
        json.removeValue(forKey: "microBatches")
        let old = try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(old.microBatches == 1)
        var bad = c
        bad.microBatches = 0
        #expect(throws: ConfigError.self) { try bad.validate() }
        #expect(try c.setting("microBatches", to: "2").microBatches == 2)
    }

    /// Three steps of training: the same checkpoint bytes on 1 and 2 workers; and against the
    /// whole batch at once, a loss that starts with the same bits and stays within rounding.
    @Test func trainingOnMicroBatches() throws {
        var c = try Presets.config("softmax-7")
        (c.steps, c.batchSize, c.length, c.evalBatchSize) = (3, 8, 12, 8)
        (c.schedule.warmupSteps, c.schedule.peak) = (1, 1e-2)
        func train(workers: Int, microBatches: Int) throws -> (losses: [Double], state: [String: [Double]]) {
            var config = c
            config.microBatches = microBatches
            return try Parallel.withWorkers(workers) {
                let trainer = try Trainer(config: config)
                let losses = try (0..<3).map { _ in try trainer.trainStep().loss }
                return (losses, trainer.objective.stateTensors.mapValues(\.doubles))
            }
        }
        let one = try train(workers: 1, microBatches: 4), two = try train(workers: 2, microBatches: 4)
        #expect(one.losses.map(\.bitPattern) == two.losses.map(\.bitPattern))
        #expect(one.state.mapValues { $0.map(\.bitPattern) } == two.state.mapValues { $0.map(\.bitPattern) })
        let whole = try train(workers: 2, microBatches: 1)
        if BLASKernels.sequencesKeepTheirBitsInAnyBatch {
            #expect(one.losses[0].bitPattern == whole.losses[0].bitPattern)
        }
        // Later losses read parameters updated from gradients summed in another order.
        for (a, b) in zip(one.losses, whole.losses) { #expect(abs(a - b) <= 1e-3 * abs(b), "\(a) vs \(b)") }
        #expect(one.losses[2] != one.losses[0])
    }
}
