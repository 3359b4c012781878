import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// A prompt-tuning step against a training step of the same model (issue 11: tuning must cost
/// no more): the same model, batch size and sequence length, timed interleaved (one of each
/// per repetition), data generation excluded. Tuning back-propagates through the frozen model
/// into the learned tokens only; the model's parameters get no gradient buffers and the
/// optimizer holds moments for the tokens alone.
public struct PromptTuningBenchmark {
    public let config: TrainConfig
    public let layout: PromptLayout
    public let training: [Double], tuning: [Double]
    public let trainedValues: Int, tunedValues: Int

    /// `kind` "eos" (an EOS after every pair) or "prefix" (20 tokens); pairs fill `config.length`,
    /// and the training step runs at the laid-out length.
    public static func run(config: TrainConfig, kind: String, repeats: Int, warmup: Int = 3) throws -> PromptTuningBenchmark {
        let t = TuneConfig(kind: kind, model: "(benchmark)", modelStep: 0, modelConfig: config)
        try t.validate()
        var c = config
        c.length = t.layout.length
        let trainer = try Trainer(config: c)
        let batch = trainer.trainingBatch(step: 0)
        let frozen = try Transformer(config: c.model, seed: c.seed, dtype: .float32)
        let objective = try PromptTuning(model: frozen, tokens: c.tokens, layout: t.layout, seed: c.seed, batchSize: c.batchSize)
        let tuner = try Trainer(config: t.trainConfig(), model: frozen, objective: objective)
        let tuneBatch = objective.trainingBatch(step: 0)!
        var train: [Double] = [], tune: [Double] = []
        for rep in 0..<(warmup + max(1, repeats)) {
            let a = try elapsedSeconds { _ = try trainer.update(on: batch) }
            let b = try elapsedSeconds { _ = try tuner.update(on: tuneBatch) }
            if rep >= warmup { train.append(a); tune.append(b) }
        }
        return PromptTuningBenchmark(config: c, layout: t.layout, training: train, tuning: tune,
                                     trainedValues: trainer.objective.parameters.reduce(0) { $0 + $1.variable.value.count },
                                     tunedValues: objective.parameters.reduce(0) { $0 + $1.variable.value.count })
    }

    public var report: String {
        func stats(_ x: [Double]) -> String {
            let s = x.sorted()
            return String(format: "%8.2f ms (range %.2f–%.2f)", s[s.count / 2] * 1e3, s.first! * 1e3, s.last! * 1e3)
        }
        let ratio = StepBenchmark.median(tuning) / StepBenchmark.median(training)
        return """
        \(config.preset): \(config.model.layers.map(\.rawValue).joined(separator: "+")), B \(config.batchSize), T \(config.length) \
        (\(layout.eos ? "EOS after each of \(layout.pairs) pairs" : "\(layout.prefix) prefix tokens, \(layout.pairs) pairs")), \
        \(Parallel.workers) threads, median of \(training.count) interleaved repetitions, data excluded
          training step (forward, backward, AdamW on \(trainedValues) values)   \(stats(training))
          tuning step   (forward, backward, Adam on \(tunedValues) token values)   \(stats(tuning))
          tuning / training  \(String(format: "%.2f", ratio))
        """
    }
}
