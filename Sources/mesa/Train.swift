import ArgumentParser
import Foundation
import MesaTraining

/// Options that pick and adjust a training configuration, shared by `train` and `bench`.
struct ConfigOptions: ParsableArguments {
    @Option(help: "Preset to start from (see `mesa presets`).") var preset: String = "linear-2"
    @Option(help: "Number of optimizer steps.") var steps: Int?
    @Option(help: "Random seed (data, initialization, held-out batches).") var seed: UInt64?
    @Option(name: .customLong("batch-size"), help: "Sequences per batch.") var batchSize: Int?
    @Option(help: "Sequence length T.") var length: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(help: "Linear warm-up steps.") var warmup: Int?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Set any configuration field: --set model.heads=2 (repeatable; see `mesa presets --show NAME`).",
                               valueName: "field=value"))
    var assignments: [String] = []

    /// The preset with every flag applied.
    func config() throws -> TrainConfig {
        var c = try Presets.config(preset)
        if let steps { c.steps = steps }
        if let seed { c.seed = seed }
        if let batchSize { c.batchSize = batchSize }
        if let length { c.length = length }
        if let lr { c.schedule.peak = lr }
        if let warmup { c.schedule.warmupSteps = warmup }
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else {
                throw ValidationError("--set expects field=value, got '\(a)'")
            }
            c = try c.setting(String(a[..<eq]), to: String(a[a.index(after: eq)...]))
        }
        try c.validate()
        return c
    }

    /// True when any flag other than --steps changes the configuration.
    var changesMoreThanSteps: Bool {
        seed != nil || batchSize != nil || length != nil || lr != nil || warmup != nil || !assignments.isEmpty
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and write a run directory (config.json, metrics.csv, checkpoint.safetensors).",
        discussion: """
        Progress (step, loss, steps/s, ETA) goes to standard error. Ctrl-C stops at the next step \
        and writes a checkpoint; `--resume` continues from the last checkpoint to the same numbers \
        an uninterrupted run reaches.
        """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "Run directory (default: runs/PRESET-sSEED).") var out: String?
    @Flag(help: "Continue the run in --out from its last checkpoint (only --steps may change).") var resume = false
    @Flag(help: "No progress line.") var quiet = false

    func run() throws {
        let dir: RunDirectory
        var config: TrainConfig
        if resume {
            guard let out else { throw ValidationError("--resume needs --out DIR, the run to continue") }
            dir = RunDirectory(URL(fileURLWithPath: out))
            if options.changesMoreThanSteps {
                throw ValidationError("--resume continues the configuration in \(out)/config.json; only --steps may change")
            }
            config = try dir.readConfig()
            if let steps = options.steps { config.steps = steps }
        } else {
            config = try options.config()
            dir = RunDirectory(URL(fileURLWithPath: out ?? "runs/\(config.preset)-s\(config.seed)"))
        }
        Interrupt.install()
        let summary = try TrainingRun.run(config: config, in: dir, resume: resume, progress: !quiet)
        switch summary.outcome {
        case .finished:
            print("trained \(config.preset) for \(summary.steps) steps in \(ProgressLine.duration(summary.seconds)) "
                  + String(format: "(%.1f steps/s); ", summary.stepsPerSecond)
                  + "held-out loss \(summary.finalEvalLoss.map { String(format: "%.6g", $0) } ?? "-"); run in \(dir.url.path)")
        case .interrupted:
            print("interrupted at step \(summary.steps); checkpoint written. Continue with: mesa train --out \(dir.url.path) --resume")
            throw ExitCode(130)
        }
    }
}
