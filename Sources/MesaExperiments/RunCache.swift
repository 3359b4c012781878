import Foundation
import MesaTensor
import MesaTraining

/// The one rule by which every finding keeps its runs, so that `mesa reproduce` can be stopped
/// and started again and only pays for what is missing: each run lives in ROOT/NAME with the
/// configuration that made it (config.json). A run whose directory holds the same, finished
/// configuration is reused; the same configuration unfinished is resumed (Transformer runs from
/// their last checkpoint) or recomputed (results too quick to checkpoint); another configuration
/// is an error that names the directory, unless `fresh` asks to replace it.
public final class RunCache {
    public let root: URL
    /// Replace every run this cache is asked for, once (a run asked for twice is not retrained).
    public let fresh: Bool
    public let progress: Bool
    private var replaced: Set<String> = []

    public init(root: URL, fresh: Bool = false, progress: Bool = true) {
        self.root = root
        self.fresh = fresh
        self.progress = progress
    }

    /// A Transformer run trained by `TrainingRun` in ROOT/NAME: reused when finished, resumed from its
    /// checkpoint when not. Throws `ReproductionError.interrupted` when `shouldStop` ends it early
    /// (the checkpoint stays for the next call).
    @discardableResult
    public func train(_ config: TrainConfig, name: String, label: String,
                      shouldStop: () -> Bool = { Interrupt.requested },
                      makeTrainer: (TrainConfig) throws -> Trainer = { try Trainer(config: $0) }) throws -> RunDirectory {
        let dir = RunDirectory(try directory(name, for: config))
        let summary: TrainingSummary
        if dir.exists {
            if dir.hasCheckpoint, let step = Int(try dir.readCheckpoint().metadata["step"] ?? ""), step >= config.steps {
                note("\(label): reusing the finished run in \(dir.url.path)")
                return dir
            }
            summary = try TrainingRun.run(config: config, in: dir, resume: true, progress: progress, label: label,
                                          shouldStop: shouldStop, makeTrainer: makeTrainer)
        } else {
            summary = try TrainingRun.run(config: config, in: dir, resume: false, progress: progress, label: label,
                                          shouldStop: shouldStop, makeTrainer: makeTrainer)
        }
        if summary.outcome == .interrupted { throw ReproductionError.interrupted(label) }
        return dir
    }

    /// A prompt-tuning run (`TuningRun`) in ROOT/NAME, by the same rule as `train`.
    @discardableResult
    public func tune(_ config: TuneConfig, name: String, label: String,
                     shouldStop: () -> Bool = { Interrupt.requested }) throws -> RunDirectory {
        let dir = RunDirectory(try directory(name, for: config))
        if dir.exists, dir.hasCheckpoint, let step = Int(try dir.readCheckpoint().metadata["step"] ?? ""), step >= config.steps {
            note("\(label): reusing the finished tuning run in \(dir.url.path)")
            return dir
        }
        let summary = try TuningRun.run(config: config, in: dir, resume: dir.exists, progress: progress, label: label,
                                        shouldStop: shouldStop)
        if summary.outcome == .interrupted { throw ReproductionError.interrupted(label) }
        return dir
    }

    /// A result computed in one go (no checkpoints: [ZH]'s full-batch descents take seconds),
    /// stored as ROOT/NAME/result.json beside config.json: read back when present, computed and
    /// stored when not.
    public func result<Config: Codable & Equatable, Result: Codable>(
        _ config: Config, name: String, label: String, compute: () throws -> Result
    ) throws -> Result {
        let dir = try directory(name, for: config)
        let file = dir.appendingPathComponent("result.json")
        if FileManager.default.fileExists(atPath: file.path) {
            do {
                let stored = try JSONDecoder().decode(Result.self, from: Data(contentsOf: file))
                note("\(label): reusing \(file.path)")
                return stored
            } catch {
                throw MesaIOError.corrupt(file.path, "\(error); pass --fresh to recompute it")
            }
        }
        // Computations here take seconds and cannot checkpoint; a stop asked for stops before the next.
        if Interrupt.requested { throw ReproductionError.interrupted(label) }
        let result = try compute()
        try AtomicFile.writeJSON(config, to: dir.appendingPathComponent("config.json"))
        try AtomicFile.writeJSON(result, to: file)
        return result
    }

    /// ROOT/NAME after the rule: emptied first under `fresh`, an error when it holds another
    /// configuration.
    func directory<Config: Codable & Equatable>(_ name: String, for config: Config) throws -> URL {
        let dir = root.appendingPathComponent(name)
        let configURL = dir.appendingPathComponent("config.json")
        if fresh, !replaced.contains(name), FileManager.default.fileExists(atPath: dir.path) {
            try FileManager.default.removeItem(at: dir)
        }
        replaced.insert(name)
        if FileManager.default.fileExists(atPath: configURL.path) {
            let saved: Config
            do {
                saved = try JSONDecoder().decode(Config.self, from: Data(contentsOf: configURL))
            } catch {
                throw MesaIOError.corrupt(configURL.path, "\(error)")
            }
            guard saved == config else {
                throw ReproductionError.otherConfiguration(dir.path, ConfigJSON.differences(saved, config))
            }
        }
        return dir
    }

    private func note(_ line: String) {
        if progress { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}
