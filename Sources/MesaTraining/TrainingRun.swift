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
/// checkpoints every `checkpointEvery` steps, every `checkpointSeconds` and at the end, and
/// resumes from the last checkpoint. A diverged run stops with the last good checkpoint left
/// as it was. The directory is locked (`RunLock`) while the run trains.
public enum TrainingRun {
    /// The one field a resume may change: a run may be extended (never shortened).
    static let resumableFields: Set<String> = ["steps"]

    /// `makeTrainer` builds the model, objective and batches (default: the configuration's task
    /// and next-state objective; language models bring their own).
    /// `shouldStop` is polled before every step (Ctrl-C and SIGTERM by default); when it answers
    /// true the run checkpoints and returns `.interrupted`. `stepDone(step)` is called as soon as
    /// each optimizer step is done, before its evaluation and metrics (`BenchProbe`).
    /// `splitsBatches`: whether the objective trains on micro-batches and evaluates in chunks, as
    /// the next-state objective does (it sizes `MemoryEstimate`).
    /// Everything that can be checked is checked before anything is written: the configuration,
    /// the memory it needs, the directory, and on `resume` that config.json and the checkpoint
    /// belong to this configuration.
    public static func run(config: TrainConfig, in dir: RunDirectory, resume: Bool,
                           progress: Bool = true, label: String = "train",
                           shouldStop: () -> Bool = { Interrupt.requested },
                           stepDone: (Int) -> Void = { _ in },
                           makeTrainer: (TrainConfig) throws -> Trainer = { try Trainer(config: $0) },
                           splitsBatches: Bool = true) throws -> TrainingSummary {
        try config.validate()
        try MemoryEstimate(config, splitsBatches: splitsBatches).check()
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw TrainingError.notADirectory(dir.url.path)
        }
        if !resume, dir.exists || dir.hasCheckpoint { throw TrainingError.runExists(dir.url.path) }
        if resume { _ = try dir.readConfig() }
        let trainer = try makeTrainer(config)
        let lock = try RunLock(dir.url)
        try startLocked(dir, config: config, resume: resume, label: label, trainer: trainer,
                        saved: { try dir.readConfig() }, steps: \.steps, training: { $0 }, write: dir.writeConfig)
        return try withExtendedLifetime(lock) {
            try loop(trainer, dir, progress: progress, label: label, shouldStop: shouldStop, stepDone: stepDone)
        }
    }

    /// What starting a run does once it holds the directory's lock, for training and prompt tuning
    /// alike (`C`: their configuration). The directory is looked at again: another process may
    /// have started there since the first look.
    /// - On `resume`: the requested configuration may differ from the saved one (`saved()`) in its
    ///   steps only; the checkpoint, if there is one, must belong to the saved run (`training`: the
    ///   configuration the checkpoint embeds) and is restored into `trainer`; a run stopped before
    ///   its first checkpoint starts again from step 0, which is said on standard error. The steps
    ///   may not fall below the checkpoint's step; the metrics after it are dropped, and a longer
    ///   run is written to config.json.
    /// - Otherwise the directory must still be free, and config.json is written.
    static func startLocked<C: Encodable>(_ dir: RunDirectory, config: C, resume: Bool, label: String, trainer: Trainer,
                                          saved: () throws -> C, steps: (C) -> Int, training: (C) -> TrainConfig,
                                          write: (C) throws -> Void) throws {
        guard resume else {
            if dir.exists || dir.hasCheckpoint { throw TrainingError.runExists(dir.url.path) }
            try write(config)
            return
        }
        let saved = try saved()
        let changed = ConfigJSON.differences(saved, config, ignoring: resumableFields)
        guard changed.isEmpty else {
            throw TrainingError.configMismatch("only --steps may change on --resume; the requested configuration "
                + "differs from \(dir.configURL.path) in \(changed.joined(separator: "; "))")
        }
        if dir.hasCheckpoint {
            let file = try dir.readCheckpoint()
            try verify(checkpoint: file, of: training(saved), in: dir)
            try trainer.restore(from: file)
        } else {
            // Stopped before its first checkpoint: nothing to continue from, and nothing is lost.
            FileHandle.standardError.write(Data("\(label): \(dir.url.path) has no checkpoint yet; training starts again from step 0\n".utf8))
        }
        guard steps(config) >= trainer.step else {
            throw TrainingError.stepsBelowCurrent(requested: steps(config), current: trainer.step)
        }
        try dir.truncateMetrics(after: trainer.step == 0 ? -1 : trainer.step)
        if steps(saved) != steps(config) { try write(config) }
    }

    /// Refuses a checkpoint written by another configuration (copied from another run, or
    /// config.json edited since) or ahead of the run's metrics, naming what differs.
    static func verify(checkpoint file: Safetensors.File, of saved: TrainConfig, in dir: RunDirectory) throws {
        if let text = file.metadata["config"] {
            let embedded: TrainConfig
            do {
                embedded = try ConfigJSON.decodeStrictly(TrainConfig.self, from: Data(text.utf8))
            } catch {
                throw MesaIOError.corrupt(dir.checkpointURL.path, "its configuration does not decode: \(error)")
            }
            let changed = ConfigJSON.differences(embedded, saved, ignoring: resumableFields)
            guard changed.isEmpty else {
                throw TrainingError.configMismatch("\(dir.checkpointURL.lastPathComponent) was written by another configuration "
                    + "than \(dir.configURL.lastPathComponent) in \(dir.url.path) (checkpoint → config.json): "
                    + changed.joined(separator: "; "))
            }
        }
        if let step = Int(file.metadata["step"] ?? ""), step > 0,
           let rows = try? dir.readMetrics(), !rows.contains(where: { $0.step == step }) {
            throw TrainingError.configMismatch("the checkpoint is at step \(step) but \(dir.metricsURL.path) has no row for it "
                + "(last \(rows.last.map { String($0.step) } ?? "none")): the checkpoint is not this run's")
        }
    }

    static func loop(_ trainer: Trainer, _ dir: RunDirectory, progress: Bool, label: String,
                     shouldStop: () -> Bool, stepDone: (Int) -> Void = { _ in }) throws -> TrainingSummary {
        let config = trainer.config
        let writer = try MetricsWriter(dir.metricsURL)
        let line = ProgressLine(label: label, total: config.steps)
        line.enabled = progress
        let start = Date()
        let firstStep = trainer.step
        var lastLoss: Double?
        // A resumed run that has nothing left to train still reports its last held-out loss.
        var lastEval: Double? = (try? dir.readMetrics())?.last { $0.values["eval_loss"] != nil }?.values["eval_loss"]
        if trainer.step == 0 {
            lastEval = trainer.evaluate()
            try writer.append(step: 0, lr: nil, loss: nil, gradNorm: nil, evalLoss: lastEval)
        }
        var lastSave = Date()
        func saveCheckpoint() throws {
            try writer.flush()
            try Safetensors.write(trainer.checkpoint(), to: dir.checkpointURL)
            lastSave = Date()
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
            stepDone(r.step)
            lastLoss = r.loss
            var evalLoss: Double?
            if r.step % config.evalEvery == 0 || r.step == config.steps {
                evalLoss = trainer.evaluate()
                lastEval = evalLoss
            }
            try writer.append(step: r.step, lr: r.learningRate, loss: r.loss, gradNorm: r.gradientNorm, evalLoss: evalLoss)
            if r.step % config.checkpointEvery == 0 || r.step == config.steps
                || Date().timeIntervalSince(lastSave) >= config.checkpointSeconds {
                try saveCheckpoint()
            }
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
