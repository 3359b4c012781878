import ArgumentParser
import Foundation
import MesaExperiments
import MesaLanguage
import MesaTraining

/// `mesa lm`: byte-level language models on the user's text (SPEC §7).
struct LM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Train, evaluate and sample byte-level language models on any UTF-8 text.",
        discussion: """
        mesa lm train --preset lm-2-mesa --corpus notes/ --out runs/lm
        mesa lm eval runs/lm
        mesa lm sample runs/lm --prompt "The " --tokens 200

        Presets: \(LMPresets.names.joined(separator: ", ")) (layer 1 softmax, then the named kind; \
        lm-2: attention only, lm-4: with MLPs; width 128, 4 heads, context 256). The default corpus is \
        Debian's fortunes (\(Corpus.defaultPath), installed by scripts/setup.sh).
        """,
        subcommands: [LMTrain.self, LMEval.self, LMSample.self, LMPresetList.self, LMBench.self])
}

struct LMTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a language model into a run directory (config.json, metrics.csv, checkpoint.safetensors).",
        discussion: """
        --preset is one of \(LMPresets.names.joined(separator: ", ")) (default lm-2-mesa). The corpus is every \
        UTF-8 file named, and every UTF-8 file inside the folders named (others there are skipped and listed); \
        the last --validation-fraction of each file is validation text. Losses in metrics.csv are in nats per byte. \
        Progress, checkpoints, Ctrl-C/SIGTERM, --resume and locking work as in `mesa train`.
        """)

    @OptionGroup var options: ConfigOptions
    @Option(parsing: .upToNextOption, help: "Files or folders of UTF-8 text (default: \(Corpus.defaultPath)).")
    var corpus: [String] = []
    @Option(name: .customLong("validation-fraction"), help: "Share of every file kept for validation.")
    var validationFraction: Double = 0.1
    @OptionGroup var runOptions: RunOptions

    func run() throws {
        let dir: RunDirectory
        var config: TrainConfig
        if let (resumed, saved) = try runOptions.runToResume() {
            dir = resumed
            if !corpus.isEmpty, corpus.map(absolute) != saved.task.text?.corpus {
                throw CommandError("--corpus differs from the run's corpus (\(saved.task.text?.corpus.joined(separator: ", ") ?? "none")); --resume continues a run as configured")
            }
            config = try options.applied(to: saved)
        } else {
            let paths = corpus.isEmpty ? [Corpus.defaultPath] : corpus.map(absolute)
            if corpus.isEmpty && !FileManager.default.fileExists(atPath: Corpus.defaultPath) {
                throw CommandError("no --corpus given and the default corpus \(Corpus.defaultPath) is missing: install Debian's fortunes (scripts/setup.sh does) or pass --corpus FILE_OR_FOLDER")
            }
            let text = try Corpus(paths: paths, validationFraction: validationFraction)
            if !text.skipped.isEmpty && !runOptions.quiet {
                note("corpus: \(text.files.count) files, \(text.totalBytes) bytes; skipped \(text.skipped.count) file(s) that are not UTF-8 text, e.g. "
                     + text.skipped.prefix(3).map { "\($0.path) (\($0.reason))" }.joined(separator: ", "))
            }
            config = try options.applied(to: LMPresets.config(options.preset ?? "lm-2-mesa",
                                                              corpus: text.settings(paths: paths, validationFraction: validationFraction)))
            try text.check(length: config.length)
            dir = runOptions.directory(for: config)
        }
        Interrupt.install()
        let summary = try LanguageModelling.train(config: config, in: dir, resume: runOptions.resume, progress: !runOptions.quiet)
        switch summary.outcome {
        case .finished:
            let eval = summary.finalEvalLoss.map { String(format: "%.4f nats = %.4f bits per byte", $0, $0 / log(2)) } ?? "-"
            print("trained \(config.preset) for \(summary.steps) steps in \(ProgressLine.duration(summary.seconds)) "
                  + String(format: "(%.0f tokens/s); ", summary.stepsPerSecond * Double(config.batchSize * config.length))
                  + "held-out loss \(eval); run in \(dir.url.path)")
        case .interrupted:
            throw runOptions.stopped(at: summary.steps, in: dir, command: "mesa lm train")
        }
    }
}

struct LMEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Validation loss (bits per byte, perplexity), loss per position and ICL score of a language model.",
        discussion: "Writes RUN/eval/lm_summary.json, per_position_loss.csv and its figure (PNG and SVG).")

    @Argument(help: "The run directory.") var directory: String
    @Option(help: "Validation windows of the context length, spread evenly over the validation text.") var windows = 256
    @Flag(help: "No progress line.") var quiet = false

    func run() throws {
        let dir = RunDirectory(URL(fileURLWithPath: directory))
        let loaded = try LanguageModelling.load(dir)
        guard let text = loaded.config.task.text else { throw CommandError("\(dir.configURL.path) has no task.text") }
        let corpus = try Corpus(settings: text)
        let line = ProgressLine(label: "lm eval", total: windows)
        line.enabled = !quiet
        let result = try LMEvaluation.evaluate(loaded.model, corpus: corpus, length: loaded.config.length, windows: windows,
                                               step: loaded.step, progress: line)
        line.finish()
        let folder = dir.url.appendingPathComponent("eval")
        try result.write(to: folder, title: "\(loaded.config.preset): next-byte loss per position (validation)")
        print(result.summary)
        print("written to \(folder.path)")
    }
}

struct LMSample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a language model, printed as it is generated.",
        discussion: "Each byte costs one position: softmax layers keep a KV cache, linear and mesa layers their d_k × d_v state (and the mesa-layer its inverse).")

    @Argument(help: "The run directory.") var directory: String
    @Option(help: "Text to continue (at most the model's context in bytes).") var prompt = ""
    @Option(parsing: .unconditional, help: "Bytes to generate.") var tokens = 400
    @Option(parsing: .unconditional, help: "Softmax temperature (0: always the most likely byte).") var temperature = 0.8
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Draw among the k most likely bytes (0: all).")
    var topK = 0
    @Option(help: "Random seed of the draws.") var seed: UInt64 = 0

    func run() throws {
        let dir = RunDirectory(URL(fileURLWithPath: directory))
        let config = try dir.readConfig()
        let settings = Sampler.Settings(temperature: temperature, topK: topK, seed: seed)
        let promptBytes = ByteTokenizer.encode(prompt)
        try Sampler.validate(prompt: promptBytes, tokens: tokens, settings: settings, context: config.length)
        let loaded = try LanguageModelling.load(dir)
        let sampler = try Sampler(model: loaded.model, context: loaded.config.length)
        let out = FileHandle.standardOutput
        out.write(Data(promptBytes))
        var pending: [UInt8] = []
        try sampler.generate(prompt: promptBytes, tokens: tokens, settings: settings) { byte in
            pending.append(byte)
            let n = ByteTokenizer.completePrefix(pending)
            if n > 0 {
                out.write(Data(pending[..<n]))
                pending.removeFirst(n)
            }
        }
        if !pending.isEmpty { out.write(Data(pending)) }
        out.write(Data("\n".utf8))
    }
}

struct LMPresetList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "presets", abstract: "List the language-model presets.")
    @Option(help: "Print this preset's full configuration as JSON (on the default corpus).") var show: String?

    func run() throws {
        let corpus = TextCorpusSettings(corpus: [Corpus.defaultPath])
        if let name = show {
            print(try LMPresets.config(name, corpus: corpus).jsonString())
            return
        }
        for name in LMPresets.names {
            let c = try LMPresets.config(name, corpus: corpus)
            print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(c.model.layers.map(\.rawValue).joined(separator: "+"))"
                  + "\(c.model.mlp ? " with MLPs" : ", attention only"), \(c.model.heads) heads, D \(c.model.width), context \(c.length), \(c.steps) steps")
        }
    }
}

private func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

private func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

struct LMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Training and sampling tokens/s of the F8 models, and attention time against context length.",
        discussion: "Results for BENCHMARKS.md. Models are timed interleaved (one step of each per repetition); medians.")

    @Option(parsing: .upToNextOption, help: "Corpus (default: \(Corpus.defaultPath)).") var corpus: [String] = []
    @Option(help: "Timed training steps per model.") var repeats = 5
    @Option(name: .customLong("batch-size"), help: "Windows per training step.") var batchSize = 16
    @Flag(help: "Only the attention sublayers against context length.") var scalingOnly = false

    func run() throws {
        print(BLASBenchmark.run().report)
        if !scalingOnly {
            let rows = try LMBenchmark.models(corpus: corpus.isEmpty ? [Corpus.defaultPath] : corpus, batch: batchSize, repeats: repeats)
            print("model          step (median, min–max)     train tokens/s  dense GFLOP/s  sample tokens/s")
            for r in rows {
                print(r.preset.padding(toLength: 14, withPad: " ", startingAt: 0)
                      + String(format: " %6.3f s (%.3f–%.3f)   %10.0f  %12.1f  %14.0f", r.medianStep, r.stepSeconds.min()!,
                               r.stepSeconds.max()!, r.trainTokensPerSecond, r.denseGFLOPs, r.sampleTokensPerSecond))
            }
        }
        let scaling = LMBenchmark.attentionScaling(repeats: repeats)
        print("attention sublayer, forward + backward, 4096 tokens (B = 4096 / T), width 128, 4 heads of 32")
        print("T      " + ["softmax", "linear", "mesa", "mesa/linear"].map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
        for t in Set(scaling.map(\.length)).sorted() {
            let row = scaling.filter { $0.length == t }
            func s(_ k: String) -> Double { row.first { $0.kind.rawValue == k }!.seconds }
            print(String(format: "%-6d %-12.4f%-12.4f%-12.4f%-12.2f", t, s("softmax"), s("linear"), s("mesa"), s("mesa") / s("linear")))
        }
    }
}
