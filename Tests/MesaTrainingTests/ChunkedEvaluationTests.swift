import Testing
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Held-out evaluation a few sequences at a time (issue 14): the bits of the whole batch at
/// once, for the presets' real models and several chunk sizes, with and without a loss mask;
/// and an evaluation of unchanged parameters is answered from the previous one.
@Suite struct ChunkedEvaluationTests {
    static func wholeBatchLoss(_ objective: NextStatePrediction, _ batch: SequenceBatch) -> Double {
        Variable.withoutGradients { objective.loss(on: batch).value.item }
    }

    /// A loss from pieces of a batch against the whole batch's: bit for bit with OpenBLAS's
    /// SkylakeX kernels (`BLASKernels.sequencesKeepTheirBitsInAnyBatch`), to Float32 rounding with
    /// others (their products give a row other bits in a call of other rows).
    static func expectWholeBatchLoss(_ loss: Double, _ whole: Double, _ what: @autoclosure () -> String,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        if BLASKernels.sequencesKeepTheirBitsInAnyBatch {
            #expect(loss.bitPattern == whole.bitPattern, "\(what()): \(loss) vs \(whole)", sourceLocation: sourceLocation)
        } else {
            #expect(abs(loss - whole) <= 1e-5 * abs(whole), "\(what()): \(loss) vs \(whole)", sourceLocation: sourceLocation)
        }
    }

    /// A preset's objective and held-out batch (`evalBatch` sequences of `length`), and the
    /// batch's loss in one piece (checked to be a plausible loss).
    static func heldOut(_ preset: String, evalBatch: Int, length: Int) throws
        -> (objective: NextStatePrediction, batch: SequenceBatch, whole: Double) {
        var c = try Presets.config(preset)
        c.evalBatchSize = evalBatch
        c.length = length
        let trainer = try Trainer(config: c)
        let objective = try #require(trainer.objective as? NextStatePrediction)
        let whole = wholeBatchLoss(objective, trainer.testBatch)
        #expect(whole.isFinite && whole > 0.05 && whole < 50)
        return (objective, trainer.testBatch, whole)
    }

    @Test(arguments: ["linear-1", "linear-2", "softmax-7", "hybrid-mesa", "full-mesa"])
    func chunkedIsTheWholeBatchBitForBit(preset: String) throws {
        let (objective, batch, whole) = try Self.heldOut(preset, evalBatch: 13, length: 20)
        for chunk in [1, 2, 4, 5, 12, 13, 64] {
            Self.expectWholeBatchLoss(objective.heldOutLoss(on: batch, chunk: chunk), whole, "\(preset), chunk \(chunk)")
        }
    }

    /// linear-2's model (seed 2) and a few-shot regression batch of 9 sequences of 6 pairs, which
    /// scores only the x positions (a loss mask).
    static func fewShot(dtype: DType, purpose: RandomPurpose) throws -> (NextStatePrediction, SequenceBatch) {
        let c = try Presets.config("linear-2")
        let model = try Transformer(config: c.model, seed: 2, dtype: dtype)
        let objective = try NextStatePrediction(model: model, tokens: c.tokens)
        let batch = FewShotRegression(dimension: c.model.dimension).batch(pairs: 6, size: 9, seed: 1, purpose: purpose)
        #expect(batch.lossMask != nil)
        return (objective, batch)
    }

    /// Few-shot regression scores only the x positions (a loss mask): the weighted sum too.
    @Test func chunkedWithALossMaskIsTheWholeBatch() throws {
        let (objective, batch) = try Self.fewShot(dtype: .float32, purpose: .testBatch)
        let whole = Self.wholeBatchLoss(objective, batch)
        #expect(whole.isFinite && whole > 0.05)
        for chunk in [1, 2, 4, 8] {
            Self.expectWholeBatchLoss(objective.heldOutLoss(on: batch, chunk: chunk), whole, "chunk \(chunk)")
        }
    }

    /// Evaluations between steps (chunks of 3) stay the whole-batch loss as the parameters move.
    @Test func evaluationsBetweenStepsAreTheWholeBatchLoss() throws {
        var c = try Presets.config("hybrid-mesa")
        (c.steps, c.batchSize, c.length, c.evalBatchSize) = (3, 8, 12, 16)
        (c.schedule.warmupSteps, c.schedule.peak) = (2, 1e-2)
        let trainer = try Trainer(config: c)
        trainer.evaluationChunk = 3
        let objective = try #require(trainer.objective as? NextStatePrediction)
        let before = trainer.evaluate()
        Self.expectWholeBatchLoss(before, Self.wholeBatchLoss(objective, trainer.testBatch), "before the steps")
        _ = try trainer.trainStep()
        _ = try trainer.trainStep()
        let after = trainer.evaluate()
        Self.expectWholeBatchLoss(after, Self.wholeBatchLoss(objective, trainer.testBatch), "after two steps")
        #expect(after != before)
    }
}

/// Chunks evaluated side by side, one per worker (issue 14, time to the first step, stop 10):
/// the whole batch's bits for 1, 2 and 3 workers, chunk counts that do and do not divide
/// among them, and the mesa-layer and softmax models.
@Suite struct SideBySideChunkTests {
    @Test(arguments: ["hybrid-mesa", "full-mesa", "softmax-7", "linear-2"])
    func sideBySideIsTheWholeBatchBitForBit(preset: String) throws {
        let (objective, batch, whole) = try ChunkedEvaluationTests.heldOut(preset, evalBatch: 11, length: 16)
        for chunk in [1, 3, 4, 6] {
            let one = Parallel.withWorkers(1) { objective.heldOutLoss(on: batch, chunk: chunk) }
            ChunkedEvaluationTests.expectWholeBatchLoss(one, whole, "\(preset), chunk \(chunk)")
            for workers in [2, 3] {
                // Any kernels: the same chunks whatever the number of workers, so the same bits.
                let loss = Parallel.withWorkers(workers) { objective.heldOutLoss(on: batch, chunk: chunk) }
                #expect(loss.bitPattern == one.bitPattern, "\(preset), \(workers) workers, chunk \(chunk): \(loss) vs \(one)")
            }
        }
    }

    /// A trainer's evaluation and a 3-step run's bytes do not depend on the workers either.
    @Test func trainerEvaluationIsTheSameOnOneAndTwoWorkers() throws {
        var c = try Presets.config("full-mesa")
        (c.steps, c.batchSize, c.length, c.evalBatchSize) = (2, 6, 12, 20)
        (c.schedule.warmupSteps, c.schedule.peak) = (1, 1e-2)
        func losses(_ workers: Int) throws -> [UInt64] {
            try Parallel.withWorkers(workers) {
                let trainer = try Trainer(config: c)
                var out = [trainer.evaluate().bitPattern]
                _ = try trainer.trainStep()
                _ = try trainer.trainStep()
                out.append(trainer.evaluate().bitPattern)
                return out
            }
        }
        let one = try losses(1), two = try losses(2)
        #expect(one == two)
        #expect(one[0] != one[1])
    }

    /// The default chunk is a micro-batch: ⌈batch size / microBatches⌉ (64 for the presets'
    /// 256 in 4 pieces, 16 for linear-2's 16 pieces), the whole batch with one piece, never 0.
    @Test func defaultChunkIsAMicroBatch() throws {
        var c = try Presets.config("softmax-7")
        #expect((c.batchSize, c.microBatches) == (256, 4))
        #expect(Trainer.defaultEvaluationChunk(c) == 64)
        #expect(try Trainer(config: c).evaluationChunk == 64)
        let linear2 = try Presets.config("linear-2")
        #expect((linear2.batchSize, linear2.microBatches) == (256, 16))
        #expect(try Trainer(config: linear2).evaluationChunk == 16)
        for (batch, parts, chunk) in [(10, 4, 3), (9, 4, 3), (8, 4, 2), (3, 4, 1), (256, 1, 256), (1, 1, 1)] {
            (c.batchSize, c.microBatches) = (batch, parts)
            #expect(Trainer.defaultEvaluationChunk(c) == chunk, "batch \(batch) in \(parts) pieces")
        }
    }
}
