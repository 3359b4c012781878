import ArgumentParser
import Foundation
import MesaTraining

/// Options that pick and adjust a training configuration, shared by `train` and `bench`.
struct ConfigOptions: ParsableArguments {
    // `.unconditional`: a negative number is a value to refuse by name ("steps must be ≥ 0"),
    // not a missing one.
    @Option(help: "Preset to start from (see `mesa presets`; default linear-2).") var preset: String?
    @Option(parsing: .unconditional, help: "Number of optimizer steps.") var steps: Int?
    @Option(parsing: .unconditional, help: "Random seed (data, initialization, held-out batches).") var seed: UInt64?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sequences per batch.") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Sequence length T.") var length: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate.") var lr: Double?
    @Option(parsing: .unconditional, help: "Linear warm-up steps.") var warmup: Int?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Set any configuration field: --set model.heads=2 (repeatable; see `mesa presets --show NAME`).",
                               valueName: "field=value"))
    var assignments: [String] = []

    /// The preset with every flag applied.
    func config() throws -> TrainConfig {
        try applied(to: Presets.config(preset ?? "linear-2"))
    }

    /// These options as command-line arguments, --steps left out (for `mesa bench`'s child runs).
    var arguments: [String] {
        var a: [String] = []
        if let preset { a += ["--preset", preset] }
        if let seed { a += ["--seed", String(seed)] }
        if let batchSize { a += ["--batch-size", String(batchSize)] }
        if let length { a += ["--length", String(length)] }
        if let lr { a += ["--lr", String(lr)] }
        if let warmup { a += ["--warmup", String(warmup)] }
        for s in assignments { a += ["--set", s] }
        return a
    }

    /// `base` with every flag but --preset applied, validated.
    func applied(to base: TrainConfig) throws -> TrainConfig {
        var c = base
        if let steps { c.steps = steps }
        if let seed { c.seed = seed }
        if let batchSize { c.batchSize = batchSize }
        if let length { c.length = length }
        if let lr { c.schedule.peak = lr }
        if let warmup { c.schedule.warmupSteps = warmup }
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else {
                throw CommandError("--set expects field=value, got '\(a)'")
            }
            c = try c.setting(String(a[..<eq]), to: String(a[a.index(after: eq)...]))
        }
        try c.validate()
        return c
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and write a run directory (config.json, metrics.csv, checkpoint.safetensors).",
        discussion: """
        Progress (step, loss, steps/s, ETA) goes to standard error. Checkpoints are written every \
        checkpointEvery steps and every checkpointSeconds (60 by default). Ctrl-C or SIGTERM stops at \
        the next step and writes a checkpoint; `--resume` continues from the last checkpoint to the same \
        numbers an uninterrupted run reaches. A run directory is locked while a process trains in it.
        """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var runOptions: RunOptions

    func run() throws {
        let dir: RunDirectory
        var config: TrainConfig
        var extendedFrom: Int?
        if let (resumed, saved) = try runOptions.runToResume() {
            dir = resumed
            if let preset = options.preset, preset != saved.preset {
                throw CommandError("--preset \(preset) differs from the run's preset \(saved.preset) (\(dir.configURL.path)); "
                                   + "--resume continues a run as configured, only --steps may change")
            }
            // Flags are applied to the saved configuration: one that repeats a saved value is
            // harmless, one that changes it is refused by TrainingRun with the field's name.
            config = try options.applied(to: saved)
            // Said once the resume is accepted (a refused one changes nothing).
            if config.steps > saved.steps { extendedFrom = saved.steps }
        } else {
            config = try options.config()
            dir = runOptions.directory(for: config)
        }
        Interrupt.install()
        let probe = BenchProbe.fromEnvironment()
        let summary = try TrainingRun.run(config: config, in: dir, resume: runOptions.resume, progress: !runOptions.quiet,
                                          stepDone: { _ in probe?.stepDone() })
        probe?.finish()
        if let extendedFrom {
            FileHandle.standardError.write(Data("extended \(dir.url.path) from \(extendedFrom) to \(config.steps) steps (recorded in config.json)\n".utf8))
        }
        switch summary.outcome {
        case .finished:
            print("trained \(config.preset) for \(summary.steps) steps in \(ProgressLine.duration(summary.seconds)) "
                  + String(format: "(%.1f steps/s); ", summary.stepsPerSecond)
                  + "held-out loss \(summary.finalEvalLoss.map { String(format: "%.6g", $0) } ?? "-"); run in \(dir.url.path)")
        case .interrupted:
            throw runOptions.stopped(at: summary.steps, in: dir, command: "mesa train")
        }
    }
}

/// A refusal from a subcommand's `run()`: printed as "Error: …" alone (ValidationError there
/// would print the top-level usage, which is not what was wrong).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
