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

    @Test(arguments: ["linear-1", "linear-2", "softmax-7", "hybrid-mesa", "full-mesa"])
    func chunkedIsTheWholeBatchBitForBit(preset: String) throws {
        var c = try Presets.config(preset)
        c.evalBatchSize = 13
        c.length = 20
        let trainer = try Trainer(config: c)
        let objective = try #require(trainer.objective as? NextStatePrediction)
        let batch = trainer.testBatch
        let whole = Self.wholeBatchLoss(objective, batch)
        #expect(whole.isFinite && whole > 0.05 && whole < 50)
        for chunk in [1, 2, 4, 5, 12, 13, 64] {
            let chunked = objective.heldOutLoss(on: batch, chunk: chunk)
            #expect(chunked.bitPattern == whole.bitPattern, "\(preset), chunk \(chunk): \(chunked) vs \(whole)")
        }
    }

    /// Few-shot regression scores only the x positions (a loss mask): the weighted sum too.
    @Test func chunkedWithALossMaskIsTheWholeBatch() throws {
        let c = try Presets.config("linear-2")
        let model = try Transformer(config: c.model, seed: 2, dtype: .float32)
        let objective = try NextStatePrediction(model: model, tokens: c.tokens)
        let batch = FewShotRegression(dimension: c.model.dimension).batch(pairs: 6, size: 9, seed: 1, purpose: .testBatch)
        #expect(batch.lossMask != nil)
        let whole = Self.wholeBatchLoss(objective, batch)
        #expect(whole.isFinite && whole > 0.05)
        for chunk in [1, 2, 4, 8] {
            #expect(objective.heldOutLoss(on: batch, chunk: chunk).bitPattern == whole.bitPattern, "chunk \(chunk)")
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
        #expect(before.bitPattern == Self.wholeBatchLoss(objective, trainer.testBatch).bitPattern)
        _ = try trainer.trainStep()
        _ = try trainer.trainStep()
        let after = trainer.evaluate()
        #expect(after.bitPattern == Self.wholeBatchLoss(objective, trainer.testBatch).bitPattern)
        #expect(after != before)
    }
}
