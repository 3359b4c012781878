import Foundation
import MesaNN
import MesaTensor

/// A prompt-tuning run (SPEC §6) in a directory of its own, driven by the same loop as
/// `TrainingRun` (metrics.csv, checkpoints every `checkpointEvery` steps and seconds, the
/// lock, Ctrl-C/SIGTERM checkpointing, resume): config.json holds the `TuneConfig`, the
/// checkpoint holds the learned tokens ("prompt.prefix", "prompt.eos") and their Adam moments.
/// The model's run directory is only read, never written.
public enum TuningRun {
    /// The model of a run directory, with its checkpoint, and the checkpoint's step. A missing
    /// directory, config.json or checkpoint is named.
    public static func loadModel(_ url: URL, dtype: DType = .float32) throws -> (config: TrainConfig, model: Transformer, step: Int) {
        let dir = RunDirectory(url)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TrainingError.noRun("no model run at \(url.path): the directory does not exist")
        }
        let config = try dir.readConfig()
        guard dir.hasCheckpoint else { throw TrainingError.noRun("the model run \(url.path) has no checkpoint.safetensors yet") }
        let file = try dir.readCheckpoint()
        let model = try Transformer(config: config.model, seed: config.seed, dtype: dtype)
        do {
            try model.load(file.tensors)
        } catch {
            throw MesaIOError.corrupt(dir.checkpointURL.path, "\(error)")
        }
        return (config, model, Int(file.metadata["step"] ?? "") ?? 0)
    }

    /// The objective of `config` on its model, loaded from the model's run directory (which must
    /// still hold the configuration and step the tuning began with).
    public static func objective(_ config: TuneConfig) throws -> PromptTuning {
        let loaded = try loadModel(URL(fileURLWithPath: config.model))
        let changed = ConfigJSON.differences(config.modelConfig, loaded.config, ignoring: ["steps"])
        guard changed.isEmpty else {
            throw TrainingError.configMismatch("the model run \(config.model) has another configuration than the one tuned for: "
                + changed.joined(separator: "; "))
        }
        guard loaded.step == config.modelStep else {
            throw TrainingError.configMismatch("the model run \(config.model) is at step \(loaded.step), the tuning began at its step \(config.modelStep)")
        }
        return try PromptTuning(model: loaded.model, tokens: config.modelConfig.tokens, layout: config.layout, seed: config.seed,
                                initStd: config.initStd, batchSize: config.batchSize, evalBatchSize: config.evalBatchSize)
    }

    /// Trains (or, on `resume`, continues) the tokens of `config` in `dir`. Everything that can
    /// be checked is checked before anything is written: the configuration, the model run, the
    /// memory, the directory (another run there is refused; so is the model's own directory).
    public static func run(config: TuneConfig, in dir: RunDirectory, resume: Bool, progress: Bool = true,
                           label: String = "tune", shouldStop: () -> Bool = { Interrupt.requested }) throws -> TrainingSummary {
        try config.validate()
        let train = config.trainConfig()
        try MemoryEstimate(train, splitsBatches: false).check()
        if dir.url.standardizedFileURL.path == URL(fileURLWithPath: config.model).standardizedFileURL.path {
            throw TrainingError.runExists(dir.url.path + " (the model's own run)")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw TrainingError.notADirectory(dir.url.path)
        }
        if !resume, dir.exists || dir.hasCheckpoint { throw TrainingError.runExists(dir.url.path) }
        if resume { _ = try readConfig(dir) }
        let objective = try objective(config)
        let trainer = try Trainer(config: train, model: objective.model, objective: objective)
        let lock = try RunLock(dir.url)
        try TrainingRun.startLocked(dir, config: config, resume: resume, label: label, trainer: trainer,
                                    saved: { try readConfig(dir) }, steps: \.steps, training: { $0.trainConfig() },
                                    write: { try AtomicFile.writeJSON($0, to: dir.configURL) })
        return try withExtendedLifetime(lock) {
            try TrainingRun.loop(trainer, dir, progress: progress, label: label, shouldStop: shouldStop)
        }
    }

    /// A tuning run's config.json.
    public static func readConfig(_ dir: RunDirectory) throws -> TuneConfig {
        guard dir.exists else { throw TrainingError.noRun("\(dir.url.path) holds no tuning run: it has no config.json") }
        do {
            return try ConfigJSON.decodeStrictly(TuneConfig.self, from: Data(contentsOf: dir.configURL))
        } catch {
            throw MesaIOError.corrupt(dir.configURL.path, "\(error)")
        }
    }

    /// A finished or interrupted tuning run read back: its configuration and the objective
    /// holding the model and the tuned tokens of its checkpoint.
    public static func load(_ dir: RunDirectory) throws -> (config: TuneConfig, objective: PromptTuning, step: Int) {
        let config = try readConfig(dir)
        guard dir.hasCheckpoint else { throw TrainingError.noRun("\(dir.url.path) has no checkpoint.safetensors yet") }
        let file = try dir.readCheckpoint()
        let objective = try objective(config)
        do {
            try objective.load(file.tensors)
        } catch {
            throw MesaIOError.corrupt(dir.checkpointURL.path, "\(error)")
        }
        return (config, objective, Int(file.metadata["step"] ?? "") ?? 0)
    }
}
