import Foundation
import MesaTensor
import MesaTraining

/// Options every `mesa reproduce` finding takes.
public struct ReproductionOptions {
    /// "quick" (minutes on a laptop-class CPU) or "paper" (the papers' settings, longer).
    public var profile: String
    /// Where the finding's folder goes (results/F1, …).
    public var outputRoot: URL
    public var seeds: [UInt64]?
    /// Retrain even when a finished run is already there.
    public var fresh: Bool
    public var progress: Bool

    public init(profile: String = "quick", outputRoot: URL = URL(fileURLWithPath: "results"), seeds: [UInt64]? = nil,
                fresh: Bool = false, progress: Bool = true) {
        self.profile = profile
        self.outputRoot = outputRoot
        self.seeds = seeds
        self.fresh = fresh
        self.progress = progress
    }

    public func requireProfile(_ known: [String]) throws {
        guard known.contains(profile) else {
            throw ConfigError.invalid("unknown profile '\(profile)'; known: \(known.joined(separator: ", "))")
        }
    }
}

/// One claim of a finding with what was measured and whether it held.
public struct Claim: Codable {
    public let statement: String
    public let measured: String
    public let holds: Bool

    public var markdownRow: String { "| \(statement) | \(measured) | \(holds ? "matched" : "**not matched**") |" }
}

/// Trains `config` into `dir` unless a finished run with the same configuration is already
/// there (then reuses it); resumes an interrupted one.
public func trainOrReuse(_ config: TrainConfig, in dir: RunDirectory, fresh: Bool, progress: Bool, label: String) throws {
    if fresh, FileManager.default.fileExists(atPath: dir.url.path) {
        try FileManager.default.removeItem(at: dir.url)
    }
    if dir.exists {
        let saved = try dir.readConfig()
        if saved == config, dir.hasCheckpoint,
           let step = Int(try dir.readCheckpoint().metadata["step"] ?? ""), step >= config.steps {
            if progress { FileHandle.standardError.write(Data("\(label): reusing the finished run in \(dir.url.path)\n".utf8)) }
            return
        }
        if saved == config {
            _ = try TrainingRun.run(config: config, in: dir, resume: true, progress: progress, label: label)
            return
        }
        throw TrainingError.configMismatch("\(dir.url.path) holds a run with another configuration; pass --fresh to replace it")
    }
    let summary = try TrainingRun.run(config: config, in: dir, resume: false, progress: progress, label: label)
    if summary.outcome == .interrupted { throw TrainingError.noRun("interrupted; run the same command again to resume") }
}
