import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// `mesa analyze linearize RUN` (SPEC §5.6): distils each softmax layer of a run into a linear
/// layer on the run's validation batch, swaps it in, and reports the loss on the test batch
/// relative to the model's own: per layer, and for all softmax layers from the second on at once.
/// Writes RUN/analysis/linearization/: linearization.json, linearization.csv, a figure and summary.md.
public struct LinearizationAnalysis {
    public struct Swap: Codable, Equatable {
        /// 1-based layers replaced together.
        public var layers: [Int]
        public var loss: Double
        /// loss with the swap / the model's loss.
        public var ratio: Double
        /// Per replaced layer: ‖Δe_lin − Δe‖² / ‖Δe‖² on the test batch.
        public var distillationErrors: [Double]
    }

    public struct Result: Codable, Equatable {
        public var modelLoss: Double
        /// One swap per softmax layer, in depth order.
        public var single: [Swap]
        /// All softmax layers from the second layer on, swapped at once (nil when there are none).
        public var fromSecond: Swap?
        public var sequences: Int
        public var settings: Linearization.Settings
    }

    public let trained: LoadedRun
    /// 0-based softmax layers to linearize.
    public let layers: [Int]
    public let sequences: Int
    public let settings: Linearization.Settings

    /// `layers`: 1-based (nil: every softmax layer). Refuses a model without softmax layers and a
    /// layer that is not one.
    public init(_ trained: LoadedRun, layers: [Int]? = nil, sequences: Int = 1024,
                settings: Linearization.Settings = .init()) throws {
        let blocks = trained.model.blocks
        let softmax = blocks.indices.filter { blocks[$0].attention.kind == .softmax }
        guard !softmax.isEmpty else { throw AnalysisError.noSoftmaxLayers(trained.directory.url.path) }
        let chosen = try layers.map { try AnalysisError.layerIndices($0, count: blocks.count) } ?? softmax
        for l in chosen where blocks[l].attention.kind != .softmax {
            throw AnalysisError.badOption("layer \(l + 1) is a \(blocks[l].attention.kind) layer, not softmax: nothing to linearize")
        }
        guard sequences >= 1, settings.steps >= 1, settings.batchSize >= 1 else {
            throw AnalysisError.badOption("--sequences, --steps and the batch size must be at least 1")
        }
        self.trained = trained
        self.layers = chosen
        self.sequences = sequences
        self.settings = settings
    }

    public var outputDirectory: URL { AnalysisFolder.url(trained.directory, "linearization") }

    public func measure() throws -> Result {
        let c = trained.config, model = trained.model
        let task = try c.task.makeTask(seed: c.seed)
        let fit = task.batch(size: sequences, length: c.length, seed: c.seed, purpose: .validationBatch, dtype: .float64)
        let test = task.batch(size: sequences, length: c.length, seed: c.seed, purpose: .testBatch, dtype: .float64)
        let fitTokens = c.tokens.tokens(from: fit.inputs), testTokens = c.tokens.tokens(from: test.inputs)
        let states = StateSequences(inputs: test.inputs, targets: test.targets)
        func loss(_ m: Transformer) -> Double {
            let perPosition = states.loss(of: Variable.withoutGradients { m(testTokens).value.doubles })
            return perPosition.reduce(0, +) / Double(perPosition.count)
        }
        let base = loss(model)
        var fitted: [Int: (attention: SelfAttention, relativeError: Double)] = [:]
        for l in layers { fitted[l] = Linearization.distil(model, layer: l, tokens: fitTokens, heldOut: testTokens, settings: settings) }
        func swap(_ set: [Int]) throws -> Swap {
            let m = try Linearization.swapped(model, Dictionary(uniqueKeysWithValues: set.map { ($0, fitted[$0]!.attention) }))
            let l = loss(m)
            return Swap(layers: set.map { $0 + 1 }, loss: l, ratio: l / base, distillationErrors: set.map { fitted[$0]!.relativeError })
        }
        let later = layers.filter { $0 >= 1 }
        return Result(modelLoss: base, single: try layers.map { try swap([$0]) },
                      fromSecond: later.count >= 2 ? try swap(later) : nil, sequences: sequences, settings: settings)
    }

    @discardableResult
    public func run() throws -> Result {
        let result = try measure()
        try AnalysisFolder.write(trained.directory, name: "linearization") { out in try write(result, into: out) }
        return result
    }

    func write(_ r: Result, into out: URL) throws {
        let c = trained.config
        try AtomicFile.write(ProbeAnalysis.encoder().encode(r), to: out.appendingPathComponent("linearization.json"))
        let csv = out.appendingPathComponent("linearization.csv")
        try CSV.write(header: ["layer", "loss", "ratio", "distillation_error"],
                      rows: r.single.map { [Double($0.layers[0]), $0.loss, $0.ratio, $0.distillationErrors[0]] }, to: csv)
        try? Figures.render("""
        set key autotitle columnhead
        set title '\(c.preset), step \(trained.step): loss with one softmax layer linearized / the model''s loss'
        set xlabel 'linearized layer'
        set ylabel 'loss ratio'
        set logscale y
        set xtics 1
        set grid
        set style fill solid 0.6
        set boxwidth 0.6
        plot '\(csv.path)' using 1:3 with boxes lc rgb '#3182bd' title 'loss ratio', 1 with lines lc rgb 'gray40' dt 2 title 'no change'
        """, to: out.appendingPathComponent("linearization"))
        let rows = (r.single + (r.fromSecond.map { [$0] } ?? [])).map { s in
            "| \(s.layers.map(String.init).joined(separator: ", ")) | " + String(format: "%.5f | %.3f | %@ |", s.loss, s.ratio,
                s.distillationErrors.map { String(format: "%.3f", $0) }.joined(separator: ", "))
        }
        let md = """
        # Linearization: \(c.preset), step \(trained.step)

        Each softmax layer distilled into a linear attention layer (SPEC §5.6): AdamW without weight decay,
        \(r.settings.steps) steps of \(r.settings.batchSize) sequences at learning rate \(r.settings.learningRate) (cosine to a tenth),
        on the layer's real inputs from \(r.sequences) validation sequences; W_V and P start from the softmax layer's.
        Losses on \(r.sequences) test sequences; the model's own loss is \(String(format: "%.5f", r.modelLoss)).

        | linearized layer(s) | loss | × model's loss | distillation error ‖Δe_lin − Δe‖²/‖Δe‖² |
        |---|---|---|---|
        \(rows.joined(separator: "\n"))

        ![loss ratios](linearization.png)

        """
        try AtomicFile.write(md, to: out.appendingPathComponent("summary.md"))
    }
}
