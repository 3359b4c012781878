import Foundation
import MesaNN
import MesaTensor
import MesaTraining

/// `mesa analyze probes RUN` (SPEC §5.4): linear probes of the residual stream of a trained run,
/// fitted on the run's validation batch and scored on its test batch (both `sequences` long, the
/// run's own sequence length). Writes RUN/analysis/probes/: probes.json, r2_by_layer.csv and
/// mse_by_layer.csv (mean over positions t ≥ 2, one row per site), r2_TARGET.csv (per position,
/// one column per site), their figures, and summary.md.
public struct ProbeAnalysis {
    public let trained: LoadedRun
    /// 0-based layers whose sites are probed (the embedding always is).
    public let layers: [Int]
    public let sequences: Int
    public let lambdas: [Double]
    /// The precision of the model's forward whose activations are probed. `.float32` (default) is
    /// the model as it trained, its parameters exactly as the checkpoint holds them, about 8×
    /// cheaper; its activations are widened to Double and everything after them (Grams, solves,
    /// residuals, R²) runs in Double, so the probes differ from a Double forward's by the
    /// activations' rounding (~1e-7 relative; measured R² differences < 1e-5, `ProbeTests`),
    /// far below their sampling error at 2048 sequences. `.float64` evaluates the same weights in
    /// Double throughout.
    public let forward: DType

    /// `layers` are 1-based layer numbers (nil: all); a layer the model lacks is refused here.
    public init(_ trained: LoadedRun, layers: [Int]? = nil, sequences: Int = 2048,
                lambdas: [Double] = ResidualProbes.defaultLambdas, forward: DType = .float32) throws {
        let count = trained.model.blocks.count
        self.layers = try layers.map { try AnalysisError.layerIndices($0, count: count) } ?? Array(0..<count)
        guard sequences >= 1 else { throw AnalysisError.badOption("--sequences must be at least 1") }
        guard !lambdas.isEmpty, lambdas.allSatisfy({ $0 > 0 }) else { throw AnalysisError.badOption("λ values must be positive") }
        self.trained = trained
        self.sequences = sequences
        self.lambdas = lambdas
        self.forward = forward
    }

    /// The run's model evaluated in `forward` precision (the checkpoint's Float32 values widen to
    /// Double and narrow back exactly).
    func forwardModel() throws -> Transformer {
        guard trained.model.dtype != forward else { return trained.model }
        let model = try Transformer(config: trained.config.model, seed: trained.config.seed, dtype: forward)
        try model.load(trained.model.stateTensors)
        return model
    }

    public var outputDirectory: URL { AnalysisFolder.url(trained.directory, "probes") }

    /// Measures without writing anything.
    public func measure() throws -> ResidualProbes.Result {
        let c = trained.config
        let task = try c.task.makeTask(seed: c.seed)
        let fit = task.batch(size: sequences, length: c.length, seed: c.seed, purpose: .validationBatch, dtype: .float64)
        let score = task.batch(size: sequences, length: c.length, seed: c.seed, purpose: .testBatch, dtype: .float64)
        let model = try forwardModel()
        return ResidualProbes.measure(model: model, sites: ResidualProbes.sites(of: model, layers: layers),
                                      fitTokens: c.tokens.tokens(from: fit.inputs),
                                      fitStates: StateSequences(inputs: fit.inputs, targets: fit.targets),
                                      scoreTokens: c.tokens.tokens(from: score.inputs),
                                      scoreStates: StateSequences(inputs: score.inputs, targets: score.targets),
                                      lambdas: lambdas)
    }

    /// Measures and writes RUN/analysis/probes/ atomically.
    @discardableResult
    public func run() throws -> ResidualProbes.Result {
        let result = try measure()
        try AnalysisFolder.write(trained.directory, name: "probes") { out in try write(result, into: out) }
        return result
    }

    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    func write(_ r: ResidualProbes.Result, into out: URL) throws {
        let c = trained.config
        try AtomicFile.write(Self.encoder().encode(r), to: out.appendingPathComponent("probes.json"))
        for (name, values) in [("r2", r.r2), ("mse", r.mse)] {
            let csv = out.appendingPathComponent("\(name)_by_layer.csv")
            try CSV.write(header: ["site"] + r.targets, rows: r.sites.indices.map { s in
                [Double(s)] + r.targets.indices.map { k in Self.mean(values[s][k].dropFirst()) }
            }, to: csv)
        }
        let tics = r.sites.enumerated().map { "'\(ResidualProbes.label($0.element))' \($0.offset)" }.joined(separator: ", ")
        let plots = r.targets.enumerated().map { k, t in
            "'\(out.appendingPathComponent("r2_by_layer.csv").path)' using 1:\(k + 2) with linespoints pt 7 lw 2 title '\(Self.title(t, lambda: r.lambda))'"
        }.joined(separator: ", \\\n     ")
        try? Figures.render("""
        set key autotitle columnhead
        set title '\(c.preset), step \(trained.step): linear probes of the residual stream (mean R² over positions t ≥ 2)'
        set xtics (\(tics)) rotate by -45
        set ylabel 'R² on held-out sequences'
        set yrange [-0.05:1.05]
        set key outside right
        set grid
        plot \(plots)
        """, to: out.appendingPathComponent("r2_by_layer"), size: (1100, 600))
        for (k, target) in r.targets.enumerated() {
            let csv = out.appendingPathComponent("r2_\(target).csv")
            try CSV.write(header: ["position"] + r.sites.map(ResidualProbes.label),
                          rows: (0..<r.positions).map { p in [Double(p + 1)] + r.sites.indices.map { r.r2[$0][k][p] } }, to: csv)
            try? Figures.lines(csv: csv, series: r.sites.enumerated().map { (column: $0.offset + 1, title: ResidualProbes.label($0.element)) },
                               title: "\(c.preset): probe R² of \(Self.title(target, lambda: r.lambda)) per position",
                               xlabel: "position t", ylabel: "R²", to: out.appendingPathComponent("r2_\(target)"))
        }
        try AtomicFile.write(summary(r), to: out.appendingPathComponent("summary.md"))
    }

    func summary(_ r: ResidualProbes.Result) -> String {
        let c = trained.config
        let rows = r.sites.indices.map { s in
            "| \(ResidualProbes.label(r.sites[s])) | " + r.targets.indices.map { k in
                String(format: "%.3f", Self.mean(r.r2[s][k].dropFirst()))
            }.joined(separator: " | ") + " |"
        }
        return """
        # Linear probes: \(c.preset), step \(trained.step)

        Least squares without bias from the residual stream at position t to each target, one probe per
        site and position (SPEC §5.4), fitted on \(sequences) validation sequences and scored on \(sequences)
        test sequences of length \(c.length); the model's forward in \(forward == .float32 ? "Float32 (as it trained), its activations widened to Double" : "Double"), the least squares in Double. The preconditioned token is (S_{t−1}S_{t−1}ᵀ + λI)⁻¹ s_t with
        λ = \(r.lambda), line-searched over \(r.lambdaGrid) on the fitting set.

        Mean R² over positions t ≥ 2 (held-out; `r2_by_layer.csv`, per position in `r2_TARGET.csv`):

        | site | \(r.targets.map { Self.title($0, lambda: r.lambda) }.joined(separator: " | ")) |
        |---|\(r.targets.map { _ in "---|" }.joined())
        \(rows.joined(separator: "\n"))

        ![R² by layer](r2_by_layer.png)

        """
    }

    static func title(_ target: String, lambda: Double) -> String {
        switch target {
        case "s_t": return "s_t"
        case "s_t+1": return "s_{t+1}"
        case "preconditioned": return "(SS^T + \(lambda) I)^{-1} s_t"
        default: return "s_{t" + target.dropFirst(3) + "}"
        }
    }

    static func mean<C: Collection>(_ v: C) -> Double where C.Element == Double {
        let finite = v.filter(\.isFinite)
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }
}
