import ArgumentParser
import Foundation
import MesaTraining

/// `mesa tune eos|prefix RUN --out DIR` (SPEC §6): prompt tuning of a frozen LDS-trained model
/// on few-shot regression.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prompt tuning of a frozen model on few-shot regression: a learned EOS token or a learned prefix.",
        discussion: """
        The model of RUN is loaded and frozen; only the learned tokens train (Adam, constant learning rate, \
        no weight decay), on fresh few-shot regression sequences [x_1, y_1, x_2, y_2, ...] with the loss only \
        where a y is predicted. DIR is a run directory of its own (config.json, metrics.csv, \
        checkpoint.safetensors with the tokens "prompt.eos" / "prompt.prefix"); RUN is only read. \
        Ctrl-C or SIGTERM checkpoints; --resume continues.
        """,
        subcommands: [TuneEOS.self, TunePrefix.self])
}

/// Options both kinds of tuning take.
struct TuneOptions: ParsableArguments {
    @Argument(help: "The model's run directory (config.json and checkpoint.safetensors; only read).") var run: String
    @Option(help: "Run directory for the tuned tokens.") var out: String
    @Option(parsing: .unconditional, help: "Adam steps (SPEC §6: 5000).") var steps: Int?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sequences per step (SPEC §6: 256).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Learning rate, constant (SPEC §6: 1e-3).") var lr: Double?
    @Option(parsing: .unconditional, help: "Pairs (x_i, y_i) per task (default: as many as fill the model's training length).")
    var pairs: Int?
    @Option(parsing: .unconditional, help: "Tasks in a row in every sequence, each with its own W (2: continual learning).")
    var tasks = 1
    @Option(parsing: .unconditional, help: "Width of the regression tokens (default and only choice: the model's task.dimension).")
    var dimension: Int?
    @Option(parsing: .unconditional, help: "Seed of the batches and the tokens' initialization (default: the model's).") var seed: UInt64?
    @Flag(help: "Continue the tuning run in --out from its last checkpoint (only --steps may change, and only upwards).")
    var resume = false
    @Flag(help: "No progress line.") var quiet = false

    func tune(kind: String, prefix: Int) throws {
        if let pairs, pairs < 1 { throw CommandError("--pairs must be at least 1, got \(pairs)") }
        if tasks < 1 { throw CommandError("--tasks must be at least 1, got \(tasks)") }
        let modelURL = URL(fileURLWithPath: run).standardizedFileURL
        let dir = RunDirectory(URL(fileURLWithPath: out))
        var config: TuneConfig
        if resume {
            config = try TuningRun.readConfig(dir)
            if let steps { config.steps = steps }
            // Any other flag that changes the saved run is refused by name by TuningRun.
            if let batchSize { config.batchSize = batchSize }
            if let lr { config.learningRate = lr }
            if let seed { config.seed = seed }
            if let pairs { config.layout.pairs = pairs }
        } else {
            let (modelConfig, _, step) = try TuningRun.loadModel(modelURL)
            if let dimension, dimension != modelConfig.model.dimension {
                throw CommandError("--dimension \(dimension): the model of \(run) takes states of width "
                                   + "model.dimension = \(modelConfig.model.dimension) (task.dimension \(modelConfig.task.dimension)); "
                                   + "tune it on regression tokens of that width")
            }
            config = TuneConfig(kind: kind, model: modelURL.path, modelStep: step, modelConfig: modelConfig, seed: seed,
                                pairs: pairs, prefix: prefix, tasks: tasks)
            if let steps { config.steps = steps }
            if let batchSize { config.batchSize = batchSize }
            if let lr { config.learningRate = lr }
        }
        Interrupt.install()
        let summary = try TuningRun.run(config: config, in: dir, resume: resume, progress: !quiet, label: "tune \(kind)")
        switch summary.outcome {
        case .finished:
            print("tuned \(config.layout.learnedRows) token(s) (\(kind)) of \(run) for \(summary.steps) steps in "
                  + "\(ProgressLine.duration(summary.seconds)) (" + String(format: "%.1f steps/s", summary.stepsPerSecond)
                  + "); held-out loss at the y positions \(summary.finalEvalLoss.map { String(format: "%.6g", $0) } ?? "-"); "
                  + "run in \(dir.url.path)")
        case .interrupted:
            print("stopped by \(Interrupt.signalName ?? "request") at step \(summary.steps); checkpoint written to \(dir.url.path). "
                  + "Continue with: mesa tune \(kind) \(run) --out \(dir.url.path) --resume")
            throw ExitCode(Interrupt.exitStatus)
        }
    }
}

struct TuneEOS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eos", abstract: "Learn one EOS token, inserted after every y_i (SPEC §6).")

    @OptionGroup var options: TuneOptions

    func run() throws { try options.tune(kind: "eos", prefix: 0) }
}

struct TunePrefix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefix", abstract: "Learn a prefix of tokens before x_1 (SPEC §6: 20).")

    @OptionGroup var options: TuneOptions
    @Option(parsing: .unconditional, help: "Learned prefix tokens.") var tokens = 20

    func run() throws {
        guard tokens >= 1 else { throw CommandError("--tokens must be at least 1, got \(tokens)") }
        try options.tune(kind: "prefix", prefix: tokens)
    }
}
