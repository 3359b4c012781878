import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// The interpolation test of SPEC §5.3 on any trained linear-k run: the averaged-products model
/// (`InterpolatedObjective`: every layer half the free linear layer's products, half
/// CompressedAlg's) trained from scratch with the run's own task, tokens, depth, heads, clipping,
/// batches, schedule and optimizer, then scored beside the trained model on the same held-out
/// batch. A gap within the tolerance says the compressed algorithm is compatible with what the
/// model learned. Writes RUN/analysis/interpolation/.
public struct InterpolationAnalysis {
    public struct Result: Codable, Equatable {
        /// Mean over positions of the held-out per-position loss.
        public var modelLoss: Double
        public var interpolatedLoss: Double
        /// interpolated / model − 1.
        public var gap: Double
        public var tolerance: Double
        public var matched: Bool
        public var steps: Int
        public var modelPerPosition: [Double]
        public var interpolatedPerPosition: [Double]
    }

    public let trained: LoadedRun
    /// The interpolated model's training configuration (the run's, free heads at d_k = 4n).
    public let config: TrainConfig
    public let tolerance: Double

    /// `steps`: training steps of the interpolated model (nil: the run's own). Refuses a model
    /// that is not a stack of linear layers on constructed tokens.
    public init(_ trained: LoadedRun, steps: Int? = nil, tolerance: Double = 0.15) throws {
        let c = trained.config
        let kinds = trained.model.blocks.map { $0.attention.kind }
        guard kinds.allSatisfy({ $0 == .linear }) else {
            throw AnalysisError.badOption("\(trained.directory.url.path): interpolation needs a model of linear layers only (SPEC §5.3); this one has \(kinds.map { $0.rawValue }.joined(separator: ", "))")
        }
        switch c.tokens {
        case .constructed, .constructedMasked: break
        default:
            throw AnalysisError.badOption("\(trained.directory.url.path): interpolation needs constructed tokens (CompressedAlg reads [s_t, s_t−1] blocks); this run uses \(c.tokens.rawValue) tokens")
        }
        if let steps, steps < 1 { throw AnalysisError.badOption("--steps must be at least 1 (got \(steps))") }
        guard tolerance > 0 else { throw AnalysisError.badOption("--tolerance must be positive (got \(tolerance))") }
        var fit = c
        fit.model.keySize = 4 * c.task.dimension
        if let steps { fit.steps = steps }
        self.trained = trained
        self.config = fit
        self.tolerance = tolerance
    }

    public var outputDirectory: URL { AnalysisFolder.url(trained.directory, "interpolation") }

    /// Trains the interpolated model and scores both; `progress` gets (step, steps, training loss).
    public func measure(progress: ((Int, Int, Double) -> Void)? = nil) throws -> Result {
        let c = trained.config, m = config.model
        let task = try c.task.makeTask(seed: c.seed)
        let test = task.batch(size: c.evalBatchSize, length: c.length, seed: c.seed, purpose: .testBatch, dtype: .float64)
        let s = StateSequences(inputs: test.inputs, targets: test.targets)
        let model = s.loss(of: Variable.withoutGradients { trained.model(c.tokens.tokens(from: test.inputs)).value.doubles })

        let objective = InterpolatedObjective(layers: m.layers.count, heads: m.heads, dimension: c.task.dimension,
                                              tokens: c.tokens, activationClip: m.activationClip, initStd: m.initStd,
                                              compressedInitStd: 1e-3, seed: config.seed)
        var small = m
        small.layers = [.linear]
        let trainer = try Trainer(config: config, model: try Transformer(config: small, seed: config.seed), objective: objective)
        for step in 0..<config.steps {
            let result = try trainer.trainStep()
            progress?(step + 1, config.steps, result.loss)
        }
        let interpolated = s.loss(of: Variable.withoutGradients { objective.predictions(test.inputs).value.doubles })
        let mean = { (x: [Double]) in x.reduce(0, +) / Double(x.count) }
        let gap = mean(interpolated) / mean(model) - 1
        return Result(modelLoss: mean(model), interpolatedLoss: mean(interpolated), gap: gap, tolerance: tolerance,
                      matched: abs(gap) <= tolerance, steps: config.steps,
                      modelPerPosition: model, interpolatedPerPosition: interpolated)
    }

    @discardableResult
    public func run(progress: ((Int, Int, Double) -> Void)? = nil) throws -> Result {
        let r = try measure(progress: progress)
        let c = trained.config
        try AnalysisFolder.write(trained.directory, name: "interpolation") { out in
            let csv = out.appendingPathComponent("per_position_loss.csv")
            try CSV.write(header: ["t", "model", "interpolated"],
                          rows: r.modelPerPosition.indices.map { [Double($0 + 1), r.modelPerPosition[$0], r.interpolatedPerPosition[$0]] },
                          to: csv)
            try Figures.lines(csv: csv, series: [(1, "trained model"), (2, "interpolated (½ free + ½ CompressedAlg)")],
                              title: "\(c.preset), step \(trained.step): interpolation test (SPEC §5.3)",
                              xlabel: "position t", ylabel: "held-out loss", logY: true,
                              to: out.appendingPathComponent("per_position_loss"))
            let json = JSONEncoder()
            json.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(String(decoding: try json.encode(r), as: UTF8.self), to: out.appendingPathComponent("summary.json"))
            let verdict = r.matched
                ? String(format: "within the tolerance of %.0f%%: matched", tolerance * 100)
                : String(format: "beyond the tolerance of %.0f%%: not matched", tolerance * 100)
            try AtomicFile.write("""
            # Interpolation test: \(c.preset), step \(trained.step)

            Every layer of a \(c.model.layers.count)-layer linear model on \(c.tokens.rawValue) tokens has the average
            of a free layer's products (\(c.model.heads) heads, d_k = \(config.model.keySize)) and CompressedAlg's
            (16 + 16 scalars per head), trained from scratch for \(r.steps) steps with the run's task, batches,
            schedule and optimizer (seed \(config.seed)). Both are scored on the run's held-out test batch
            (\(c.evalBatchSize) sequences).

            | model | mean per-position loss |
            |---|---|
            | trained run | \(String(format: "%.5f", r.modelLoss)) |
            | interpolated | \(String(format: "%.5f", r.interpolatedLoss)) |

            Gap \(String(format: "%+.1f%%", r.gap * 100)), \(verdict).

            ![per-position loss](per_position_loss.png)

            """, to: out.appendingPathComponent("summary.md"))
        }
        return r
    }
}
