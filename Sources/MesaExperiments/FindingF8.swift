import Foundation
import MesaAnalysis
import MesaLanguage
import MesaTensor
import MesaTraining

/// F8 ([VO] §6, SPEC §7–8): language modelling. Six byte-level models trained on the same
/// token budget (2-layer attention-only and 4-layer with MLPs; after a first softmax layer,
/// softmax, linear or mesa layers): mesa beats linear at both depths, and the 2-layer
/// hybrid-mesa roughly matches softmax.
public struct FindingF8: Finding {
    public let name = "F8"
    public let claim = "language modelling: mesa-layers beat linear attention; a 2-layer softmax+mesa model roughly matches softmax"
    public let profiles = ["quick", "paper", "smoke"]
    /// The text the models learn (files or folders); Debian's fortunes by default.
    public let corpus: [String]

    public init(corpus: [String] = [Corpus.defaultPath]) { self.corpus = corpus }

    public func defaultSeeds(profile: String) -> [UInt64] { profile == "paper" ? [0, 1, 2] : [0] }

    /// "Roughly matches": bits per byte within this fraction of softmax's.
    public static let matchTolerance = 0.05

    /// paper: the presets (width 128, 4 heads, context 256), 4000 steps at batch 32 (32.8 M
    /// bytes). quick: the same models, 600 steps at batch 8 (1.2 M bytes), sized for about
    /// 30 minutes on an idle 2-core machine. smoke: width 16, context 32, 12 steps, for the tests.
    public static func config(preset: String, profile: String, seed: UInt64, corpus: TextCorpusSettings) throws -> TrainConfig {
        var c = try LMPresets.config(preset, corpus: corpus)
        c.seed = seed
        switch profile {
        case "paper":
            c.steps = 4000
            c.batchSize = 32
            c.schedule = .init(peak: 2e-3, warmupSteps: 200, horizon: 3800, final: 1e-4)
            c.evalEvery = 250
            c.checkpointEvery = 500
        case "smoke":
            c.model.width = 16
            c.model.heads = 2
            c.model.keySize = 4
            c.model.valueSize = 4
            c.model.mlpHidden = 32
            c.model.positionalEncoding = 8
            c.length = 32
            c.batchSize = 4
            c.evalBatchSize = 8
            c.steps = 12
            c.evalEvery = 6
            c.checkpointEvery = 6
            c.schedule = .init(peak: 1e-2, warmupSteps: 2, horizon: 10, final: 1e-3)
        default:
            c.steps = 600
            c.batchSize = 8
            c.evalBatchSize = 32
            c.schedule = .init(peak: 2e-3, warmupSteps: 60, horizon: 540, final: 1e-4)
        }
        return c
    }

    /// Validation windows each model is scored on.
    static func windows(profile: String) -> Int { profile == "smoke" ? 8 : profile == "paper" ? 512 : 256 }

    /// What F8's claims read off the runs: per model, bits per byte and ICL score (means over seeds).
    public struct Measured: Codable, Equatable {
        public struct Model: Codable, Equatable {
            public var preset: String
            public var bitsPerByte: [Double]
            public var iclScore: [Double]
            public var meanBits: Double { bitsPerByte.reduce(0, +) / Double(max(bitsPerByte.count, 1)) }
            public var meanICL: Double { iclScore.reduce(0, +) / Double(max(iclScore.count, 1)) }
            public init(preset: String, bitsPerByte: [Double], iclScore: [Double]) {
                self.preset = preset
                self.bitsPerByte = bitsPerByte
                self.iclScore = iclScore
            }
        }
        public var models: [Model]
        public init(models: [Model]) { self.models = models }
        func model(_ preset: String) -> Model? { models.first { $0.preset == preset } }
    }

    /// F8's claims from its measured numbers alone.
    public static func claims(_ m: Measured) -> [Claim] {
        var claims: [Claim] = []
        for depth in [2, 4] {
            guard let mesa = m.model("lm-\(depth)-mesa"), let lin = m.model("lm-\(depth)-linear") else {
                claims.append(Claim(statement: "\(depth)-layer models: mesa beats linear", measured: "not both trained", holds: false))
                continue
            }
            claims.append(Claim(
                statement: "\(depth)-layer: mesa-layers reach fewer bits per byte than linear attention",
                measured: String(format: "mesa %.4f vs linear %.4f bits/byte (ICL score %.3f vs %.3f nats)",
                                 mesa.meanBits, lin.meanBits, mesa.meanICL, lin.meanICL),
                holds: mesa.meanBits < lin.meanBits))
        }
        if let mesa = m.model("lm-2-mesa"), let soft = m.model("lm-2-softmax") {
            let gap = (mesa.meanBits - soft.meanBits) / soft.meanBits
            claims.append(Claim(
                statement: String(format: "2-layer: softmax+mesa roughly matches softmax (bits per byte within %.0f%%)", 100 * matchTolerance),
                measured: String(format: "softmax+mesa %.4f vs softmax %.4f bits/byte: %+.1f%%", mesa.meanBits, soft.meanBits, 100 * gap),
                holds: abs(gap) <= matchTolerance))
        } else {
            claims.append(Claim(statement: "2-layer: softmax+mesa roughly matches softmax", measured: "not both trained", holds: false))
        }
        return claims
    }

    struct ModelRun {
        let preset: String
        var evaluations: [LMEvaluation] = []
        var directory: URL?
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        let root = root(options)
        let paths = corpus.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if paths == [Corpus.defaultPath] && !FileManager.default.fileExists(atPath: Corpus.defaultPath) {
            throw CorpusError.invalid("F8 trains on Debian's fortunes, and \(Corpus.defaultPath) is missing: run scripts/setup.sh (it installs the fortunes package)")
        }
        let text = try Corpus(paths: paths)
        let settings = text.settings(paths: paths, validationFraction: 0.1)
        let cache = options.runCache(root)
        var runs: [ModelRun] = []
        var configs: [String: TrainConfig] = [:]
        for preset in LMPresets.names {
            var r = ModelRun(preset: preset)
            for seed in seeds {
                let config = try Self.config(preset: preset, profile: options.profile, seed: seed, corpus: settings)
                configs[preset] = config
                let dir = try cache.train(config, name: "\(preset)-s\(seed)", label: "F8 \(preset) seed \(seed)",
                                          makeTrainer: LanguageModelling.makeTrainer)
                let loaded = try LanguageModelling.load(dir)
                let evaluation = try LMEvaluation.evaluate(loaded.model, corpus: text, length: config.length,
                                                           windows: Self.windows(profile: options.profile), step: loaded.step)
                try evaluation.write(to: dir.url.appendingPathComponent("eval"), title: "\(preset): next-byte loss per position")
                r.evaluations.append(evaluation)
                if seed == seeds[0] { r.directory = dir.url }
            }
            runs.append(r)
        }
        try Self.writeCurves(runs, into: root)
        let measured = Measured(models: runs.map { r in
            .init(preset: r.preset, bitsPerByte: r.evaluations.map(\.bitsPerByte), iclScore: r.evaluations.map(\.iclScore))
        })
        try AtomicFile.writeJSON(measured, to: root.appendingPathComponent("measured.json"))
        let report = root.appendingPathComponent("report.md")
        try writeReport(runs, measured: measured, configs: configs, corpus: text, seeds: seeds, options: options, to: report)
        return report
    }

    /// per_position_loss.csv: position, then each model's bits per byte at that position
    /// (mean over seeds); and its figure.
    static func writeCurves(_ runs: [ModelRun], into root: URL) throws {
        let length = runs[0].evaluations[0].length
        let bitsPerNat = 1 / Foundation.log(2.0)
        var rows: [[Double]] = []
        for t in 0..<length {
            var row = [Double(t + 1)]
            for r in runs {
                let sum = r.evaluations.reduce(0.0) { $0 + $1.perPosition[t] }
                row.append(sum / Double(r.evaluations.count) * bitsPerNat)
            }
            rows.append(row)
        }
        let csv = root.appendingPathComponent("per_position_loss.csv")
        try CSV.write(header: ["position"] + runs.map(\.preset), rows: rows, to: csv)
        try? Figures.lines(csv: csv, series: runs.enumerated().map { (column: 1 + $0.offset, title: $0.element.preset) },
                           title: "F8: next-byte loss per position (validation)", xlabel: "position in the context",
                           ylabel: "bits per byte", logY: false, to: root.appendingPathComponent("per_position_loss"))
    }

    func writeReport(_ runs: [ModelRun], measured: Measured, configs: [String: TrainConfig], corpus: Corpus, seeds: [UInt64],
                     options: ReproductionOptions, to url: URL) throws {
        let claims = Self.claims(measured)
        let c = configs["lm-2-mesa"]!
        let paper = try Self.config(preset: "lm-2-mesa", profile: "paper", seed: c.seed, corpus: c.task.text!)
        let settings = ProfileSettings.differences(used: c, paper: paper)
        let tokens = c.steps * c.batchSize * c.length
        let first = runs[0].evaluations[0]
        // A sample from the best model (fewest bits per byte), fixed prompt and seed.
        let best = zip(runs, measured.models).min { $0.1.meanBits < $1.1.meanBits }!
        var sample = ""
        if let dir = best.0.directory {
            let loaded = try LanguageModelling.load(RunDirectory(dir))
            let sampler = try Sampler(model: loaded.model, context: loaded.config.length)
            let prompt = Array(corpus.validation.prefix(min(40, loaded.config.length)))
            let out = try sampler.generate(prompt: prompt, tokens: 300, settings: .init(temperature: 0.8, topK: 0, seed: 0))
            sample = ByteTokenizer.decode(prompt) + "⟨" + ByteTokenizer.decode(out) + "⟩"
        }
        let md = """
        # F8: language modelling with mesa-layers

        Claim ([VO] §6; SPEC §8 F8): in language modelling the mesa-layer beats linear attention everywhere, and a
        2-layer model of one softmax and one mesa-layer roughly matches a 2-layer softmax model.

        Here: byte-level models on \(corpus.files.count) file(s), \(corpus.totalBytes) bytes (\(corpus.train.count)
        for training, \(corpus.validation.count) for validation: the last 10% of every file), from
        \(c.task.text!.corpus.joined(separator: ", ")). Every model trained on the same budget of \(c.steps) steps of
        \(c.batchSize) windows of \(c.length) bytes (\(tokens) bytes), width \(c.model.width), \(c.model.heads) heads;
        linear and mesa layers with L2-normalized queries and keys. Profile `\(options.profile)`, seed(s)
        \(seeds.map(String.init).joined(separator: ", ")). Reproduce with `\(command(options))`.
        Scored on \(first.windows) validation windows of \(first.length) bytes; the ICL score is the loss (nats)
        around position \(first.earlyPosition) minus the loss around position \(first.latePosition) (Olsson et al.'s
        50 and 500 of 512, scaled; each the mean over 5 positions). "Roughly matches" is taken as within
        \(Int(100 * Self.matchTolerance))% in bits per byte.

        \(settings)

        \(Claim.table(claims))

        | model | layers | bits per byte | perplexity per byte | ICL score (nats) | parameters |
        |---|---|---|---|---|---|
        \(zip(runs, measured.models).map { r, m in
            let cfg = configs[r.preset]!
            let params = (try? LanguageModel(config: cfg.model, seed: 0).parameterCount) ?? 0
            return "| \(r.preset) | \(cfg.model.layers.map(\.rawValue).joined(separator: "+"))\(cfg.model.mlp ? " + MLPs" : "") | "
                + String(format: "%.4f | %.3f | %.3f | %d |", m.meanBits, Foundation.pow(2, m.meanBits), m.meanICL, params)
        }.joined(separator: "\n"))

        ![loss per position](per_position_loss.png)

        Data: `per_position_loss.csv` (bits per byte by position, mean over seeds), `measured.json`; every run
        directory (`PRESET-sSEED/`) holds its config, metrics (nats per byte), checkpoint and `eval/`.

        ## A sample from the best model (\(best.0.preset), temperature 0.8, seed 0)

        The prompt is the first 40 bytes of the validation text; the generated bytes are between ⟨ ⟩.

        ```
        \(sample)
        ```

        """
        try Report.write(md, claims: claims, to: url)
    }
}
