import Foundation
import MesaAnalysis
import MesaTasks
import MesaTensor
import MesaTraining

/// F7 ([VO] §5, SPEC §6 and §8): a model trained only on dynamical systems does few-shot linear
/// regression in context when fed [x_1, y_1, x_2, y_2, …]; untuned it shows the early ascent of
/// least squares on the pairs ∪ the spurious y_i → x_{i+1} transitions; a learned EOS token after
/// every pair removes the ascent, and a learned prefix of 20 tokens helps more.
public struct FindingF7: Finding {
    public let name = "F7"
    public let claim = "LDS-trained models do few-shot regression; EOS tuning fixes the early ascent; prefix tuning helps more"
    public let profiles = ["quick", "paper", "smoke"]
    public init() {}

    public func defaultSeeds(profile: String) -> [UInt64] { profile == "paper" ? [0, 1, 2, 3, 4] : [0] }

    /// The model tuned: hybrid-mesa, a softmax layer then a mesa-layer, whose in-context least
    /// squares on every transition is the control that shows the ascent.
    static let preset = "hybrid-mesa"

    /// The model's training: F4's run (shared with F4 in OUT/F4) at quick and paper; a tiny one at smoke.
    static func modelConfig(profile: String, seed: UInt64) throws -> TrainConfig {
        guard profile == "smoke" else { return try FindingF4.config(preset: preset, profile: profile, seed: seed) }
        var c = try Presets.config(preset)
        c.seed = seed
        c.steps = 6
        c.batchSize = 8
        c.length = 12
        c.evalBatchSize = 8
        c.evalEvery = 3
        c.checkpointEvery = 3
        c.schedule = .init(peak: 1e-3, warmupSteps: 2, horizon: 4)
        return c
    }

    /// Pairs per sequence (15: 45 tokens with the EOS, 50 with the prefix, as the model's T = 50).
    static func pairs(profile: String) -> Int { profile == "smoke" ? 3 : 15 }
    /// Held-out sequences the curves average over.
    static func sequences(profile: String) -> Int { profile == "smoke" ? 16 : 1024 }

    /// SPEC §6's tuning (paper: 5000 Adam steps at 1e-3, batch 256); the quick profile takes
    /// 1000 steps at batch 64 and 5e-3, so that its tokens can travel as far as the paper's (Adam
    /// moves each coordinate by about the learning rate per step): at 1e-3 1000 steps left the
    /// prefix tokens far from converged (held-out loss still falling, 4.89 → 4.62).
    static func tuneConfig(kind: String, model: RunDirectory, profile: String) throws -> TuneConfig {
        let (config, _, step) = try TuningRun.loadModel(model.url)
        var t = TuneConfig(kind: kind, model: model.url.standardizedFileURL.path, modelStep: step, modelConfig: config,
                           pairs: pairs(profile: profile), prefix: kind == "prefix" ? (profile == "smoke" ? 4 : 20) : 0)
        switch profile {
        case "paper": break
        case "smoke":
            t.steps = 4
            t.batchSize = 8
            t.evalBatchSize = 8
            t.evalEvery = 2
            t.checkpointEvery = 2
        default:
            t.steps = 1000
            t.learningRate = 5e-3
            t.batchSize = 64
            t.evalBatchSize = 256
            t.evalEvery = 100
            t.checkpointEvery = 250
        }
        return t
    }

    /// The curves F7's claims read: ½‖ŷ_i − y_i‖² at pair i (index i − 1), mean over seeds.
    public struct Measured: Codable, Equatable {
        public var dimension: Int
        public var untuned: [Double], eos: [Double], prefix: [Double]
        public var lsqPairs: [Double], lsqTransitions: [Double]

        public init(dimension: Int, untuned: [Double], eos: [Double], prefix: [Double], lsqPairs: [Double], lsqTransitions: [Double]) {
            self.dimension = dimension
            self.untuned = untuned
            self.eos = eos
            self.prefix = prefix
            self.lsqPairs = lsqPairs
            self.lsqTransitions = lsqTransitions
        }

        public static func mean(_ all: [Measured]) -> Measured {
            func m(_ f: (Measured) -> [Double]) -> [Double] {
                f(all[0]).indices.map { i in all.map { f($0)[i] }.reduce(0, +) / Double(all.count) }
            }
            return Measured(dimension: all[0].dimension, untuned: m(\.untuned), eos: m(\.eos), prefix: m(\.prefix),
                            lsqPairs: m(\.lsqPairs), lsqTransitions: m(\.lsqTransitions))
        }
    }

    /// The early ascent of a curve: its largest rise above its lowest error so far, e_i / min_{j<i} e_j,
    /// over pairs i = 2 … n + 1 (while at most n pairs have been seen: LSQ on the pairs ∪ transitions
    /// rises where its 2(i − 1) transitions approach n). 1 or less: no ascent.
    public static func ascent(_ curve: [Double], dimension n: Int) -> Double {
        guard curve.count >= 2 else { return .nan }
        var lowest = curve[0], rise = 0.0
        for e in curve[1...min(n, curve.count - 1)] {
            rise = max(rise, e / lowest)
            lowest = min(lowest, e)
        }
        return rise
    }

    static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(v.count, 1)) }

    /// F7's claims from its measured curves alone. Thresholds: few-shot learning is an error at
    /// the last pair below half the first pair's; an ascent is a rise of more than 5% above the
    /// first pair's error, and no ascent is at most 5%.
    public static func claims(_ m: Measured) -> [Claim] {
        let n = m.dimension
        let early = "pairs 2–\(min(n + 1, m.untuned.count))"
        let (first, last) = (m.untuned.first ?? .nan, m.untuned.last ?? .nan)
        let before = ascent(m.untuned, dimension: n), after = ascent(m.eos, dimension: n)
        let control = ascent(m.lsqTransitions, dimension: n)
        let (mu, me, mp) = (mean(m.untuned), mean(m.eos), mean(m.prefix))
        return [
            Claim(statement: "the LDS-trained model does few-shot regression (error at the last pair < ½ × at the first)",
                  measured: String(format: "pair 1: %.4f, pair %d: %.4f (ratio %.3f; LSQ on the pairs at pair %d: %.4f)",
                                   first, m.untuned.count, last, last / first, m.lsqPairs.count, m.lsqPairs.last ?? .nan),
                  holds: last < 0.5 * first),
            Claim(statement: "untuned, it shows an early ascent, as LSQ on the pairs ∪ transitions does (over \(early), an error > 1.05 × the lowest before it)",
                  measured: String(format: "model: rise ×%.3f; LSQ on transitions: ×%.3f", before, control),
                  holds: before > 1.05),
            Claim(statement: "EOS tuning removes that ascent (untuned rise > 1.05, EOS-tuned rise ≤ 1.05 over \(early))",
                  measured: String(format: "EOS-tuned: rise ×%.3f (untuned ×%.3f)", after, before),
                  holds: before > 1.05 && after <= 1.05),
            Claim(statement: "EOS tuning lowers the mean error over pairs",
                  measured: String(format: "untuned %.4f, EOS-tuned %.4f", mu, me),
                  holds: me < mu),
            Claim(statement: "prefix tuning helps more than EOS tuning (lower mean error over pairs)",
                  measured: String(format: "prefix-tuned %.4f, EOS-tuned %.4f, untuned %.4f", mp, me, mu),
                  holds: mp < me),
        ]
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        let root = root(options)
        let profile = options.profile
        let modelCache = options.runCache(profile == "smoke" ? root : options.outputRoot.appendingPathComponent("F4"))
        let cache = options.runCache(root)
        var measured: [Measured] = []
        var modelConfig: TrainConfig?, tuned: [String: TuneConfig] = [:]
        for seed in seeds {
            let config = try Self.modelConfig(profile: profile, seed: seed)
            modelConfig = config
            let name = profile == "smoke" ? "\(Self.preset)-smoke-s\(seed)" : "\(Self.preset)-s\(seed)"
            let model = try modelCache.train(config, name: name, label: "F7 \(Self.preset) seed \(seed)")
            var curves: [String: [Double]] = [:]
            for kind in ["eos", "prefix"] {
                let t = try Self.tuneConfig(kind: kind, model: model, profile: profile)
                tuned[kind] = t
                let dir = try cache.tune(t, name: "tune-\(kind)-s\(seed)", label: "F7 \(kind) tuning seed \(seed)")
                let objective = try TuningRun.load(dir).objective
                curves[kind] = objective.errorPerPair(on: heldOut(objective.layout, config, profile: profile))
            }
            let plain = PromptLayout(pairs: Self.pairs(profile: profile))
            let untuned = try PromptTuning(model: TuningRun.loadModel(model.url).model, tokens: config.tokens, layout: plain,
                                           seed: config.seed)
            let controls = try FewShotAnalysis(LoadedRun(directory: model), pairs: Self.pairs(profile: profile),
                                               sequences: Self.sequences(profile: profile)).measure()
            measured.append(Measured(dimension: config.task.dimension,
                                     untuned: untuned.errorPerPair(on: heldOut(plain, config, profile: profile)),
                                     eos: curves["eos"]!, prefix: curves["prefix"]!,
                                     lsqPairs: controls.lsqPairs, lsqTransitions: controls.lsqTransitions))
        }
        let m = Measured.mean(measured)
        let claims = Self.claims(m)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(measured, to: root.appendingPathComponent("measured.json"))
        let csv = root.appendingPathComponent("fewshot.csv")
        try CSV.write(header: ["pair", "untuned", "eos_tuned", "prefix_tuned", "lsq_pairs", "lsq_transitions"],
                      rows: m.untuned.indices.map { [Double($0 + 1), m.untuned[$0], m.eos[$0], m.prefix[$0], m.lsqPairs[$0], m.lsqTransitions[$0]] },
                      to: csv)
        try? Figures.lines(csv: csv, series: [(1, "\(Self.preset), untuned"), (2, "EOS-tuned"), (3, "prefix-tuned"),
                                              (4, "LSQ on the pairs"), (5, "LSQ on the pairs and y→x transitions")],
                           title: "F7: few-shot regression, mean over \(seeds.count) seed(s), \(Self.sequences(profile: profile)) sequences",
                           xlabel: "pair i (i − 1 pairs seen)", ylabel: "½‖ŷ_i − y_i‖²", logY: true,
                           to: root.appendingPathComponent("fewshot"))
        let report = root.appendingPathComponent("report.md")
        try writeReport(m, claims: claims, seeds: seeds, model: modelConfig!, tuned: tuned, options: options, to: report)
        return report
    }

    /// The held-out few-shot sequences every curve of a seed is measured on: the same data
    /// (seed of the model, purpose `experiment`) laid out as each tuning needs it, and the same
    /// sequences `mesa analyze fewshot` scores.
    func heldOut(_ layout: PromptLayout, _ config: TrainConfig, profile: String) -> SequenceBatch {
        layout.laidOut(layout.dataBatch(dimension: config.task.dimension, size: Self.sequences(profile: profile), seed: config.seed,
                                        purpose: .experiment))
    }

    func writeReport(_ m: Measured, claims: [Claim], seeds: [UInt64], model: TrainConfig, tuned: [String: TuneConfig],
                     options: ReproductionOptions, to url: URL) throws {
        let profile = options.profile
        let paperModel = try Self.modelConfig(profile: "paper", seed: model.seed)
        let modelSettings = ProfileSettings.differences(used: model, paper: paperModel)
        var tuneLines: [String] = []
        for kind in ["eos", "prefix"] {
            guard let used = tuned[kind] else { continue }
            // The paper's tuning of the same model: only the tuning fields are compared here.
            let paper = TuneConfig(kind: kind, model: used.model, modelStep: used.modelStep, modelConfig: used.modelConfig,
                                   seed: used.seed, pairs: used.layout.pairs, prefix: kind == "prefix" ? 20 : 0)
            tuneLines += ConfigJSON.differences(paper, used, ignoring: ["seed"]).filter { !$0.hasPrefix("modelConfig.") }
                .map { "- \(kind) tuning `" + $0.replacingOccurrences(of: ": ", with: "`: ") }
        }
        let rows = m.untuned.indices.map { i in
            String(format: "| %d | %.4f | %.4f | %.4f | %.4f | %.4f |", i + 1, m.untuned[i], m.eos[i], m.prefix[i], m.lsqPairs[i], m.lsqTransitions[i])
        }
        let e = tuned["eos"]!
        let md = """
        # F7: in-context few-shot regression, and prompt tuning

        Claim ([VO] §5; SPEC §6, §8 F7): a model trained only on the linear dynamical system does few-shot linear regression
        on [x_1, y_1, x_2, y_2, …] (W orthogonal \(m.dimension)×\(m.dimension), x ~ N(0, I), y = W x); untuned it shows the early ascent of
        least squares on the pairs ∪ the y_i → x_{i+1} transitions; an EOS token after every pair (learned, the model frozen)
        removes the ascent; a learned prefix of \(tuned["prefix"]?.layout.prefix ?? 20) tokens helps more.

        Profile `\(profile)`, \(seeds.count) seed(s). Model: \(Self.preset) trained \(model.steps) steps at batch \(model.batchSize)
        (peak \(model.schedule.peak)\(profile == "smoke" ? "" : ", F4's run, shared with F4 in ../F4/")). Tuning: \(e.steps) Adam steps at
        \(e.learningRate) (constant, no weight decay) on batches of \(e.batchSize) fresh sequences, tokens initialized N(0, I),
        loss only at the x_i (where y_i is predicted). Curves: \(m.untuned.count) pairs, mean over \(Self.sequences(profile: profile)) held-out
        sequences per seed, then over seeds; both LSQ controls with ridge λ = 1e-3 on the same sequences. Predicting 0 scores
        n/2 = \(Double(m.dimension) / 2). Reproduce with `\(command(options))`.

        Model: \(modelSettings)
        \(tuneLines.isEmpty ? "\nTuning: every setting is SPEC §6's." : "\nTuning settings that differ from SPEC §6 (paper → this profile):\n\n" + tuneLines.joined(separator: "\n"))

        \(Claim.table(claims))

        | pair i | untuned | EOS-tuned | prefix-tuned | LSQ on pairs | LSQ on pairs ∪ (y_i, x_{i+1}) |
        |---|---|---|---|---|---|
        \(rows.joined(separator: "\n"))

        ![few-shot error](fewshot.png)

        Data: `fewshot.csv` (the table), `measured.json` (per seed); the tuning runs `tune-eos-sSEED/`, `tune-prefix-sSEED/`
        (config.json, metrics.csv, the tokens in checkpoint.safetensors).

        """
        try Report.write(md, claims: claims, to: url)
    }
}
