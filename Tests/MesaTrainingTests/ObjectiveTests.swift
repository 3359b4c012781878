import Foundation
import Testing
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// Training a chosen subset of parameters, and loss masks (SPEC §3, §6).
@Suite struct ObjectiveTests {
    @Test func onlyTheTrainableParametersMove() throws {
        var c = try smallConfig(steps: 4)
        c.trainable = ["layers.1.*", "*.W_Q"]
        let trainer = try Trainer(config: c)
        let before = trainer.model.stateTensors
        for _ in 0..<4 { _ = try trainer.trainStep() }
        let after = trainer.model.stateTensors
        let moved = Set(after.keys.filter { after[$0]!.doubles != before[$0]!.doubles })
        #expect(moved == ["layers.0.attn.W_Q", "layers.1.attn.W_Q", "layers.1.attn.W_K", "layers.1.attn.W_V", "layers.1.attn.P"])
        // The checkpoint is still a whole model, with moments for the trained ones only.
        let file = trainer.checkpoint()
        #expect(Set(before.keys).isSubset(of: Set(file.tensors.keys)))
        #expect(file.tensors["adam.m.layers.1.attn.P"] != nil && file.tensors["adam.m.layers.0.attn.P"] == nil)
        // Training the same subset again gives the same bytes; training everything does not.
        let again = try Trainer(config: c)
        for _ in 0..<4 { _ = try again.trainStep() }
        #expect(again.model.stateTensors["layers.1.attn.P"]!.doubles == after["layers.1.attn.P"]!.doubles)
    }

    @Test func aPatternThatMatchesNothingIsRefused() throws {
        var c = try smallConfig()
        c.trainable = ["layers.7.*"]
        #expect { try Trainer(config: c) } throws: { "\($0)".contains("'layers.7.*' matches no parameter") }
        // The field can be set from the command line like any other.
        let set = try smallConfig().setting("trainable", to: #"["layers.0.*"]"#)
        #expect(set.trainable == ["layers.0.*"])
    }

    /// The loss averages ½‖ŝ − s‖² over the scored positions only: targets at unscored
    /// positions change neither the loss nor the gradient.
    @Test func lossMaskScoresOnlyItsPositions() throws {
        let trainer = try Trainer(config: try smallConfig())
        let batch = trainer.trainingBatch(step: 0)
        let (b, t, n) = (batch.batchSize, batch.length, batch.dimension)
        let mask = Tensor(shape: [b, t], (0..<(b * t)).map { $0 % t >= t / 2 ? 1.0 : 0.0 })
        var scrambled = batch.targets.doubles
        for i in 0..<(b * t) where i % t < t / 2 { for j in 0..<n { scrambled[i * n + j] += 3 } }
        let a = SequenceBatch(inputs: batch.inputs, targets: batch.targets, lossMask: mask)
        let c = SequenceBatch(inputs: batch.inputs, targets: Tensor(shape: [b, t, n], scrambled, dtype: .float32),
                              lossMask: mask)
        func lossAndGradient(_ x: SequenceBatch) -> (Double, [Double]) {
            let loss = trainer.objective.loss(on: x)
            loss.backward()
            let g = trainer.model.parameters[0].variable.grad!.doubles
            for p in trainer.model.parameters { p.variable.grad = nil }
            return (loss.value.item, g)
        }
        let (la, ga) = lossAndGradient(a), (lc, gc) = lossAndGradient(c)
        #expect(la == lc && ga == gc)
        // Against the unmasked loss computed by hand on the scored half.
        let predictions = Variable.withoutGradients { trainer.model(trainer.config.tokens.tokens(from: c.inputs)).value.doubles }
        let targets = batch.targets.doubles
        var total = 0.0
        for i in 0..<(b * t) where i % t >= t / 2 {
            for j in 0..<n { total += 0.5 * pow(predictions[i * n + j] - targets[i * n + j], 2) }
        }
        #expect(abs(la - total / Double(b * (t - t / 2))) < 1e-5 * la)
    }
}
