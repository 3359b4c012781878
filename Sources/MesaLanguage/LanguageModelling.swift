import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// Training and loading byte-level language models through the project's trainer: the
/// same run directory, progress, locking, checkpoints, signals and resume as `mesa train`,
/// with the corpus as batch source and the next-byte cross-entropy as objective.
public enum LanguageModelling {
    /// A trainer for a text configuration (task.kind "text"): loads and checks the corpus
    /// (refusing files changed since the run was configured), builds the model.
    public static func makeTrainer(_ config: TrainConfig) throws -> Trainer {
        try config.validate()
        guard config.task.kind == "text", let text = config.task.text else {
            throw ConfigError.invalid("task.kind is '\(config.task.kind)': a language model trains on task.kind text")
        }
        let corpus = try Corpus(settings: text)
        let model = try LanguageModel(config: config.model, seed: config.seed)
        return try Trainer(config: config, model: model.body, objective: NextByteObjective(model: model),
                           batches: TextBatches(corpus: corpus, config: config))
    }

    /// Trains (or resumes) `config` in `dir`; see `TrainingRun.run`.
    public static func train(config: TrainConfig, in dir: RunDirectory, resume: Bool, progress: Bool = true,
                             label: String = "lm train", shouldStop: () -> Bool = { Interrupt.requested }) throws -> TrainingSummary {
        try TrainingRun.run(config: config, in: dir, resume: resume, progress: progress, label: label,
                            shouldStop: shouldStop, makeTrainer: makeTrainer, splitsBatches: false)
    }

    /// A trained language model: its configuration, the model with its checkpoint, the step.
    public struct LoadedModel {
        public let config: TrainConfig
        public let model: LanguageModel
        public let step: Int
        public let directory: RunDirectory
    }

    public static func load(_ dir: RunDirectory, dtype: DType = .float32) throws -> LoadedModel {
        let config = try dir.readConfig()
        guard config.task.kind == "text" else {
            throw TrainingError.noRun("\(dir.url.path) holds a \(config.task.kind) run, not a language model; use mesa eval")
        }
        guard dir.hasCheckpoint else { throw TrainingError.noRun("\(dir.url.path) has no checkpoint.safetensors yet") }
        let file = try dir.readCheckpoint()
        let model = try LanguageModel(config: config.model, seed: config.seed, dtype: dtype)
        do {
            try model.load(file.tensors)
        } catch {
            throw MesaIOError.corrupt(dir.checkpointURL.path, "\(error)")
        }
        return LoadedModel(config: config, model: model, step: Int(file.metadata["step"] ?? "") ?? 0, directory: dir)
    }
}
