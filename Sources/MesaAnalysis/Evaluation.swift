import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// `mesa eval DIR`: a trained model against the hypothesized mesa-optimizers (SPEC §4–5) on
/// the run's fixed held-out batch, in Double. Writes DIR/eval/: per_position_loss.csv/.png/.svg,
/// the per-head weight products (CSV and heat maps) of linear layers on constructed tokens,
/// the training curve, and summary.json.
public struct Evaluation {
    public struct Summary: Codable {
        public var run: String
        public var step: Int
        public var preset: String
        public var positions: Int
        public var evalBatchSize: Int
        /// Mean over positions of the per-position loss, by method.
        public var meanLoss: [String: Double]
        /// GD-1's step size (line-searched on the validation batch).
        public var gdOneStepSize: Double
        public var ridgeLambda: Double
        /// max_t |L_model(t) − L_GD1(t)| / L_GD1(t), and the same against RevAlg-1.
        public var maxRelativeGapToGDOne: Double
        public var maxRelativeGapToRevAlgOne: Double?
        /// The model's activation clip c, when GD-1 was also measured through it (`gd1-clip`: the same
        /// η; `gd1-clip-ls`: η line-searched through the clip, `gdOneClippedStepSize`), and the largest
        /// per-position gaps of the model to both; nil for models it does not apply to (no clip, raw tokens).
        public var activationClip: Double?
        public var gdOneClippedStepSize: Double?
        public var maxRelativeGapToGDOneClipped: Double?
        public var maxRelativeGapToGDOneClippedSearched: Double?
        /// Per layer, per head: how closely the weights follow Prop. 1.
        public var structure: [[PropositionOneStructure]]
        public var revAlgOne: RevAlgOne?
        /// Per softmax layer: mean attention weight (over heads and positions t ≥ 3) on the
        /// current token and on the previous one (SPEC §5.5).
        public var attention: [AttentionFocus]
        /// Held-out sequences the attention maps average over (`AttentionMaps.heldOutSequences`;
        /// nil in summaries written before they did, when they used the `evalBatchSize` batch).
        public var attentionSequences: Int?
    }

    public struct AttentionFocus: Codable {
        public var layer: Int
        public var onCurrent: Double
        public var onPrevious: Double
    }

    /// The run under evaluation, as its directory holds it.
    public let trained: LoadedRun

    public init(_ trained: LoadedRun) { self.trained = trained }

    public init(runDirectory dir: RunDirectory) throws { try self.init(LoadedRun(directory: dir)) }

    public var outputDirectory: URL { trained.directory.url.appendingPathComponent("eval") }

    /// The methods of the per-position table, in column order (those measured for a run).
    public static let columns = ["model", "gd1", "gd1-clip", "gd1-clip-ls", "lsq", "lsq-window", "ridge", "revalg1"]

    /// Runs every comparison, writes the files, and returns the summary and the table.
    public func run() throws -> (summary: Summary, table: [String: [Double]]) {
        let (config, model, step) = (trained.config, trained.model, trained.step)
        let out = outputDirectory
        // Checked before eval/ is made, so a run missing its metrics leaves no half-written eval/.
        guard FileManager.default.fileExists(atPath: trained.directory.metricsURL.path) else {
            throw MesaIOError.missing(trained.directory.metricsURL.path + " (the run's training curve)")
        }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let task = try config.task.makeTask(seed: config.seed)
        let test = task.batch(size: config.evalBatchSize, length: config.length, seed: config.seed,
                              purpose: .testBatch, dtype: .float64)
        let validation = task.batch(size: config.evalBatchSize, length: config.length, seed: config.seed,
                                    purpose: .validationBatch, dtype: .float64)
        let s = StateSequences(inputs: test.inputs, targets: test.targets)
        let sv = StateSequences(inputs: validation.inputs, targets: validation.targets)

        let modelPredictions = Variable.withoutGradients { model(config.tokens.tokens(from: test.inputs)).value.doubles }
        var table: [String: [Double]] = ["model": s.loss(of: modelPredictions)]
        let eta = Baselines.lineSearch(direction: Baselines.gradientStepDirection(sv), targets: sv.targets)
        table["gd1"] = s.loss(of: Baselines.gdOne(s, eta: eta))
        // GD-1 through the model's clip, where the model reads its prediction from the clipped residual
        // stream (constructed tokens, whose first n coordinates are 0, and no read-out).
        let clipValue = config.tokens != .raw && !config.model.embedding ? config.model.activationClip : nil
        var etaClipped: Double?
        if let c = clipValue {
            let direction = Baselines.gradientStepDirection(s)
            let ec = Baselines.clippedLineSearch(direction: Baselines.gradientStepDirection(sv), targets: sv.targets, clip: c,
                                                 around: eta)
            etaClipped = ec
            table["gd1-clip"] = s.loss(of: Baselines.clipped(direction, eta: eta, clip: c))
            table["gd1-clip-ls"] = s.loss(of: Baselines.clipped(direction, eta: ec, clip: c))
        }
        table["lsq"] = s.loss(of: Baselines.ridge(s, lambda: 1e-3))
        let lambda = Baselines.ridgeLineSearch(sv)
        table["ridge"] = s.loss(of: Baselines.ridge(s, lambda: lambda))
        // Under partial observation one observation does not determine the next (SPEC §1 task 2).
        let window = config.task.partial.lsqWindow
        if config.task.kind == "lds-partial" {
            table["lsq-window"] = s.loss(of: Baselines.windowedRidge(s, window: window, lambda: 1e-3))
        }

        // Weight structure of linear layers reading constructed tokens.
        var structure: [[PropositionOneStructure]] = []
        var revAlg: RevAlgOne?
        if config.tokens != .raw {
            for (l, block) in model.blocks.enumerated() where block.attention.kind == .linear {
                let products = HeadProducts.of(block.attention)
                structure.append(products.map { PropositionOneStructure($0, tokens: config.tokens, n: config.task.dimension) })
                try writeHeatmaps(products, layer: l, into: out)
            }
            if model.blocks.count == 1 && model.blocks[0].attention.kind == .linear {
                let r = RevAlgOne(HeadProducts.of(model.blocks[0].attention), tokens: config.tokens, n: config.task.dimension)
                revAlg = r
                table["revalg1"] = s.loss(of: r.predictions(s))
            }
        }

        // Attention maps of softmax layers, averaged over 2048 held-out sequences (SPEC §5.5) whatever
        // the loss evaluation's batch; its sequences are the first of them.
        var attention: [AttentionFocus] = []
        let softmaxLayers = model.blocks.indices.filter { model.blocks[$0].attention.kind == .softmax }
        let attentionSequences = AttentionMaps.heldOutSequences
        if !softmaxLayers.isEmpty {
            let maps = try AttentionMaps(model: model, tokens: AttentionMaps.heldOutTokens(config, sequences: attentionSequences))
            for l in softmaxLayers {
                _ = try? maps.write(layer: l, title: "\(config.preset), layer \(l + 1): softmax attention averaged over \(attentionSequences) held-out sequences",
                                    into: out.appendingPathComponent("attention"))
                attention.append(AttentionFocus(layer: l + 1, onCurrent: maps.meanWeight(layer: l, lag: 0),
                                                onPrevious: maps.meanWeight(layer: l, lag: 1)))
            }
        }

        let columns = Self.columns.filter { table[$0] != nil }
        let csv = out.appendingPathComponent("per_position_loss.csv")
        try CSV.write(header: ["position"] + columns,
                      rows: (0..<config.length).map { t in [Double(t + 1)] + columns.map { table[$0]![t] } }, to: csv)
        let titles = ["model": "trained model", "gd1": String(format: "GD-1 (η = %.4g)", eta),
                      "lsq": "LSQ (λ = 1e-3)", "lsq-window": "LSQ on the last \(window) observations (λ = 1e-3)",
                      "ridge": String(format: "ridge (λ = %g)", lambda), "revalg1": "RevAlg-1",
                      "gd1-clip": String(format: "GD-1 clipped to ±%g (η = %.4g)", clipValue ?? .nan, eta),
                      "gd1-clip-ls": String(format: "GD-1 clipped to ±%g, η line-searched through the clip (%.4g)",
                                            clipValue ?? .nan, etaClipped ?? .nan)]
        try? Figures.lines(csv: csv, series: columns.enumerated().map { ($0.offset + 1, titles[$0.element]!) },
                           title: "\(config.preset), step \(step): loss per position (held-out batch of \(config.evalBatchSize))",
                           xlabel: "position t", ylabel: "½‖ŝ_{t+1} − s_{t+1}‖²", logY: true,
                           to: out.appendingPathComponent("per_position_loss"))
        try writeTrainingCurve(into: out)

        func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(x.count) }
        func maxGap(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-12) }.max() ?? 0
        }
        let summary = Summary(run: trained.directory.url.path, step: step, preset: config.preset, positions: config.length,
                              evalBatchSize: config.evalBatchSize, meanLoss: table.mapValues(mean),
                              gdOneStepSize: eta, ridgeLambda: lambda,
                              maxRelativeGapToGDOne: maxGap(table["model"]!, table["gd1"]!),
                              maxRelativeGapToRevAlgOne: table["revalg1"].map { maxGap(table["model"]!, $0) },
                              activationClip: clipValue, gdOneClippedStepSize: etaClipped,
                              maxRelativeGapToGDOneClipped: table["gd1-clip"].map { maxGap(table["model"]!, $0) },
                              maxRelativeGapToGDOneClippedSearched: table["gd1-clip-ls"].map { maxGap(table["model"]!, $0) },
                              structure: structure, revAlgOne: revAlg, attention: attention,
                              attentionSequences: softmaxLayers.isEmpty ? nil : attentionSequences)
        try AtomicFile.writeJSON(summary, to: out.appendingPathComponent("summary.json"))
        return (summary, table)
    }

    /// Per-head W_KᵀW_Q and P W_V of layer `l` as CSV matrices and one heat-map figure.
    func writeHeatmaps(_ products: [HeadProducts], layer l: Int, into out: URL) throws {
        let dir = out.appendingPathComponent("weights")
        let panels = products.enumerated().flatMap { h, p in [
            HeatmapPanel(title: "layer \(l + 1), head \(h + 1): W_K^T W_Q", values: p.keyQuery, rows: p.width, cols: p.width,
                         csv: dir.appendingPathComponent("layer\(l)_head\(h)_WkT_Wq.csv")),
            HeatmapPanel(title: "layer \(l + 1), head \(h + 1): P W_V", values: p.projectionValue, rows: p.width, cols: p.width,
                         csv: dir.appendingPathComponent("layer\(l)_head\(h)_P_Wv.csv")),
        ] }
        try Figures.heatmaps(panels, layout: (products.count, 2), block: trained.config.task.dimension,
                             title: "\(trained.config.preset), layer \(l + 1): blocks of [0, s_t, s_t, s_{t-1}] tokens",
                             to: dir.appendingPathComponent("layer\(l)_heatmaps"))
    }

    /// metrics.csv as a figure (train loss every step, held-out loss where evaluated).
    func writeTrainingCurve(into out: URL) throws {
        let config = trained.config
        let rows = try trained.directory.readMetrics()
        let csv = out.appendingPathComponent("training_curve.csv")
        try CSV.write(header: ["step", "train_loss", "eval_loss"],
                      rows: rows.map { [Double($0.step), $0.values["train_loss"] ?? .nan, $0.values["eval_loss"] ?? .nan] },
                      to: csv)
        try? Figures.render("""
        set key autotitle columnhead
        set datafile missing ''
        set title '\(config.preset): training'
        set xlabel 'step'
        set ylabel 'loss'
        set logscale y
        set grid
        plot '\(csv.path)' using 1:2 with lines lw 1 lc rgb '#9ecae1' title 'train (batch)', \\
             '' using 1:3 with linespoints pt 7 ps 0.6 lw 2 lc rgb '#08519c' title 'held-out'
        """, to: out.appendingPathComponent("training_curve"))
    }
}
