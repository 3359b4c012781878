import Foundation
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// `mesa analyze fewshot RUN` (SPEC §1 task 6, §8 F7): a model trained on a dynamical system,
/// fed few-shot regression tokens [x_1, y_1, x_2, y_2, …] unchanged, predicts y_i at x_i. The
/// error ½‖ŷ_i − y_i‖² (mean over sequences) as a function of the number of pairs seen, i − 1,
/// beside two controls on the same tokens:
/// - LSQ on the pairs: Ŵ fitted on {(x_j, y_j)}_{j<i}, ŷ_i = Ŵ x_i; exact once n pairs are seen;
/// - LSQ on every transition, the pairs ∪ {(y_j, x_{j+1})}, which is what an in-context
///   least-squares solver of the dynamical system computes: the spurious y → x transitions
///   give it an early ascent and a plateau.
/// Writes RUN/analysis/fewshot/: fewshot.csv, fewshot.png/svg, summary.md.
public struct FewShotAnalysis {
    public struct Curves: Equatable {
        /// Error at pair i = 1…pairs (index i − 1), for the model and both controls.
        public var model: [Double], lsqPairs: [Double], lsqTransitions: [Double]
    }

    public let trained: LoadedRun
    public let pairs: Int
    public let sequences: Int
    /// Ridge parameter of both LSQ controls (small: least squares, well defined before n pairs).
    public let lambda: Double

    public init(_ trained: LoadedRun, pairs: Int? = nil, sequences: Int = 1024, lambda: Double = 1e-3) throws {
        let chosen = pairs ?? max(trained.config.length / 2, 1)
        guard chosen >= 1 else { throw AnalysisError.badOption("--pairs must be at least 1, got \(chosen)") }
        guard sequences >= 1 else { throw AnalysisError.badOption("--sequences must be at least 1, got \(sequences)") }
        guard lambda > 0, lambda.isFinite else { throw AnalysisError.badOption("--lambda must be positive, got \(lambda)") }
        self.trained = trained
        self.pairs = chosen
        self.sequences = sequences
        self.lambda = lambda
    }

    public var outputDirectory: URL { AnalysisFolder.url(trained.directory, "fewshot") }

    /// The three curves, without writing anything.
    public func measure() -> Curves {
        let c = trained.config
        let task = FewShotRegression(dimension: c.task.dimension)
        let batch = task.batch(pairs: pairs, size: sequences, seed: c.seed, purpose: .experiment, dtype: .float64)
        let s = StateSequences(inputs: batch.inputs, targets: batch.targets)
        let model = Variable.withoutGradients { trained.model(c.tokens.tokens(from: batch.inputs)).value.doubles }
        // Transition t' (1-based) ends in token t', a y exactly when t' is even.
        let pairsOnly = Baselines.windowedRidge(s, window: 1, lambda: lambda, fits: { $0 % 2 == 0 })
        let transitions = Baselines.ridge(s, lambda: lambda)
        func atX(_ predictions: [Double]) -> [Double] {
            let perPosition = s.loss(of: predictions)
            return (0..<pairs).map { perPosition[2 * $0] }
        }
        return Curves(model: atX(model), lsqPairs: atX(pairsOnly), lsqTransitions: atX(transitions))
    }

    @discardableResult
    public func run() throws -> Curves {
        let c = trained.config, n = c.task.dimension
        let curves = measure()
        try AnalysisFolder.write(trained.directory, name: "fewshot") { out in
            let csv = out.appendingPathComponent("fewshot.csv")
            try CSV.write(header: ["pair", "model", "lsq_pairs", "lsq_transitions"],
                          rows: (0..<pairs).map { [Double($0 + 1), curves.model[$0], curves.lsqPairs[$0], curves.lsqTransitions[$0]] },
                          to: csv)
            try Figures.lines(csv: csv, series: [(1, "trained model"), (2, "LSQ on the pairs"),
                                                 (3, "LSQ on the pairs and y→x transitions")],
                              title: "\(c.preset), step \(trained.step): few-shot regression (\(sequences) sequences, n = \(n))",
                              xlabel: "pair i (i − 1 pairs seen)", ylabel: "½‖ŷ_i − y_i‖²", logY: true,
                              to: out.appendingPathComponent("fewshot"))
            let rows = (0..<pairs).map { i in
                String(format: "| %d | %.4f | %.4f | %.4f |", i + 1, curves.model[i], curves.lsqPairs[i], curves.lsqTransitions[i])
            }
            try AtomicFile.write("""
            # Few-shot regression: \(c.preset), step \(trained.step)

            Tokens [x_1, y_1, …, x_\(pairs), y_\(pairs)] with W Haar-orthogonal \(n)×\(n), x ~ N(0, I), y = W x
            (SPEC §1 task 6), fed to the model as it was trained (\(c.tokens.rawValue) tokens of task
            `\(c.task.kind)`). Error ½‖ŷ_i − y_i‖² of the prediction made at x_i, mean over \(sequences)
            sequences (seed \(c.seed), purpose `experiment`); predicting 0 scores n/2 = \(Double(n) / 2).
            Both LSQ controls use ridge λ = \(lambda).

            | pair i | model | LSQ on pairs | LSQ on pairs ∪ (y_i, x_{i+1}) |
            |---|---|---|---|
            \(rows.joined(separator: "\n"))

            ![few-shot error](fewshot.png)

            """, to: out.appendingPathComponent("summary.md"))
        }
        return curves
    }
}
