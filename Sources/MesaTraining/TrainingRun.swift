import Foundation
import MesaTensor

/// How a run ended.
public struct TrainingSummary {
    public enum Outcome { case finished, interrupted }
    public let outcome: Outcome
    public let steps: Int
    public let finalTrainLoss: Double?
    public let finalEvalLoss: Double?
    public let stepsPerSecond: Double
    public let seconds: Double
}

/// Drives a `Trainer` in a run directory: writes config.json, appends metrics.csv,
/// checkpoints every `checkpointEvery` steps and at the end, and resumes from the last
/// checkpoint. A diverged run stops with the last good checkpoint left as it was.
public enum TrainingRun {
    /// `shouldStop` is polled before every step (Ctrl-C by default); when it answers true the
    /// run checkpoints and returns `.interrupted`.
    public static func run(config: TrainConfig, in dir: RunDirectory, resume: Bool,
                           progress: Bool = true, label: String = "train",
                           shouldStop: () -> Bool = { Interrupt.requested }) throws -> TrainingSummary {
        try config.validate()
        let trainer = try Trainer(config: config)
        if resume {
            let saved = try dir.readConfig()
            var comparable = saved
            comparable.steps = config.steps
            guard comparable == config else {
                throw TrainingError.configMismatch("\(dir.configURL.path) differs from the requested configuration; only --steps may change on --resume")
            }
            if dir.hasCheckpoint {
                try trainer.restore(from: dir.readCheckpoint())
            }
            try dir.truncateMetrics(after: trainer.step)
            if saved.steps != config.steps { try dir.writeConfig(config) }
        } else {
            if dir.exists || dir.hasCheckpoint { throw TrainingError.runExists(dir.url.path) }
            try dir.writeConfig(config)
        }
        return try loop(trainer, dir, progress: progress, label: label, shouldStop: shouldStop)
    }

    static func loop(_ trainer: Trainer, _ dir: RunDirectory, progress: Bool, label: String,
                     shouldStop: () -> Bool) throws -> TrainingSummary {
        let config = trainer.config
        let writer = try MetricsWriter(dir.metricsURL)
        let line = ProgressLine(label: label, total: config.steps)
        line.enabled = progress
        let start = Date()
        let firstStep = trainer.step
        var lastLoss: Double?, lastEval: Double?
        if trainer.step == 0 {
            lastEval = trainer.evaluate()
            try writer.append(step: 0, lr: nil, loss: nil, gradNorm: nil, evalLoss: lastEval)
        }
        func saveCheckpoint() throws {
            try writer.flush()
            try Safetensors.write(trainer.checkpoint(), to: dir.checkpointURL)
        }
        defer { line.finish() }
        while trainer.step < config.steps {
            if shouldStop() {
                try saveCheckpoint()
                return summary(.interrupted)
            }
            let r: Trainer.StepResult
            do {
                r = try trainer.trainStep()
            } catch {
                try? writer.flush()
                throw error
            }
            lastLoss = r.loss
            var evalLoss: Double?
            if r.step % config.evalEvery == 0 || r.step == config.steps {
                evalLoss = trainer.evaluate()
                lastEval = evalLoss
            }
            try writer.append(step: r.step, lr: r.learningRate, loss: r.loss, gradNorm: r.gradientNorm, evalLoss: evalLoss)
            if r.step % config.checkpointEvery == 0 || r.step == config.steps { try saveCheckpoint() }
            line.update(step: r.step, ["loss": r.loss, "eval": lastEval], force: r.step == config.steps)
        }
        if trainer.step == firstStep { try saveCheckpoint() }
        return summary(.finished)

        func summary(_ outcome: TrainingSummary.Outcome) -> TrainingSummary {
            let seconds = Date().timeIntervalSince(start)
            return TrainingSummary(outcome: outcome, steps: trainer.step, finalTrainLoss: lastLoss,
                                   finalEvalLoss: lastEval,
                                   stepsPerSecond: Double(trainer.step - firstStep) / max(seconds, 1e-9),
                                   seconds: seconds)
        }
    }
}
