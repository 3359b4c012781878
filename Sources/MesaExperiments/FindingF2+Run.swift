import Foundation
import MesaAnalysis
import MesaNN
import MesaTensor
import MesaTraining

extension FindingF2 {
    /// One depth's per-position curves on the first seed's held-out batch, and the fitted baselines.
    struct DepthResult {
        let depth: Int
        var model: [[Double]] = []
        var prop2: [Double] = [], compressed: [Double] = [], multiStepGD: [Double] = []
        var fittedProp2: PropositionTwo?
        var fittedCompressed: CompressedAlgorithm?
        var gdStepSize = 0.0
        var interpolated: Double?
        var measured: Measured.Depth {
            func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }
            return .init(depth: depth, model: model.map(mean), prop2: mean(prop2), compressed: mean(compressed),
                         multiStepGD: mean(multiStepGD), interpolated: interpolated)
        }
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        let root = root(options)
        let profile = options.profile
        // Through the sweep engine (--executor, or side by side by default from the command line)
        // every run trains first and the loop below reuses them.
        let points = try Self.depths(profile: profile).flatMap { depth in
            try seeds.map { try SweepPoint(name: "linear-\(depth)-s\($0)", config: Self.config(depth: depth, profile: profile, seed: $0)) }
        }
        let cache = options.runCache(root, runs: points.count)
        _ = try options.trainThroughSweep(points, in: root)
        // Every curve is measured on the first seed's held-out batch; step sizes on its validation batch.
        let first = try Self.config(depth: 2, profile: profile, seed: seeds[0])
        let task = try first.task.makeTask(seed: first.seed)
        let test = task.batch(size: first.evalBatchSize, length: first.length, seed: first.seed, purpose: .testBatch, dtype: .float64)
        let validation = task.batch(size: first.evalBatchSize, length: first.length, seed: first.seed,
                                    purpose: .validationBatch, dtype: .float64)
        let s = StateSequences(inputs: test.inputs, targets: test.targets)
        let sv = StateSequences(inputs: validation.inputs, targets: validation.targets)
        let eta = Baselines.lineSearch(direction: Baselines.gradientStepDirection(sv), targets: sv.targets)
        let gdOne = s.loss(of: Baselines.gdOne(s, eta: eta)), lsq = s.loss(of: Baselines.ridge(s, lambda: 1e-3))

        var results: [DepthResult] = []
        for depth in Self.depths(profile: profile) {
            var r = DepthResult(depth: depth)
            for seed in seeds {
                let config = try Self.config(depth: depth, profile: profile, seed: seed)
                let dir = try cache.train(config, name: "linear-\(depth)-s\(seed)", label: "F2 linear-\(depth) seed \(seed)")
                let run = try LoadedRun(directory: dir)
                let predictions = Variable.withoutGradients { run.model(config.tokens.tokens(from: test.inputs)).value.doubles }
                r.model.append(s.loss(of: predictions))
            }
            let prop2Fit = try Self.prop2Fit(depth: depth, profile: profile, seed: seeds[0])
            let prop2 = try cache.result(prop2Fit, name: "prop2-\(depth)", label: "F2 Prop-2, \(depth - 1) step(s)") {
                try PropositionTwo.fit(steps: depth - 1, initialEta: eta, config: prop2Fit.train)
            }
            r.fittedProp2 = prop2
            r.prop2 = s.loss(of: prop2.predictions(s))
            let compressedFit = try Self.compressedFit(depth: depth, profile: profile, seed: seeds[0])
            let compressed = try cache.result(compressedFit, name: "compressed-\(depth)", label: "F2 CompressedAlg-\(depth)") {
                try CompressedAlgorithm.train(config: compressedFit.train, initStd: compressedFit.initStd)
            }
            r.fittedCompressed = compressed
            r.compressed = s.loss(of: compressed.predictions(s, tokens: compressedFit.train.tokens))
            if Self.interpolationDepths(profile: profile).contains(depth) {
                let fit = try Self.interpolationFit(depth: depth, profile: profile, seed: seeds[0])
                r.interpolated = try cache.result(fit, name: "interpolated-\(depth)", label: "F2 interpolation, depth \(depth)") {
                    try InterpolatedObjective.train(config: fit.train, compressedInitStd: fit.initStd)
                }
            }
            r.gdStepSize = MultiStepGD.lineSearch(sv, steps: depth)
            r.multiStepGD = s.loss(of: MultiStepGD.predictions(s, steps: depth, eta: r.gdStepSize))
            try Self.writeCurves(r, gdOne: gdOne, lsq: lsq, into: root)
            results.append(r)
        }
        let mean = { (x: [Double]) in x.reduce(0, +) / Double(x.count) }
        let measured = Measured(depths: results.map(\.measured), gdOne: mean(gdOne), lsq: mean(lsq))
        try AtomicFile.writeJSON(measured, to: root.appendingPathComponent("measured.json"))
        let report = root.appendingPathComponent("report.md")
        try writeReport(results, measured: measured, gdOneStepSize: eta, seeds: seeds, options: options, to: report)
        return report
    }

    /// per_position_loss_linear-K.csv (model mean over seeds, Prop-2, CompressedAlg-K, K-step GD,
    /// GD-1, LSQ) and its figure.
    static func writeCurves(_ r: DepthResult, gdOne: [Double], lsq: [Double], into root: URL) throws {
        let columns: [(String, [Double])] = [
            ("model", (0..<lsq.count).map { t in r.model.map { $0[t] }.reduce(0, +) / Double(r.model.count) }),
            ("prop2", r.prop2), ("compressed", r.compressed), ("gd\(r.depth)", r.multiStepGD), ("gd1", gdOne), ("lsq", lsq),
        ]
        let csv = root.appendingPathComponent("per_position_loss_linear-\(r.depth).csv")
        try CSV.write(header: ["position"] + columns.map(\.0),
                      rows: (0..<lsq.count).map { t in [Double(t + 1)] + columns.map { $0.1[t] } }, to: csv)
        let titles = ["linear-\(r.depth) (mean over seeds)", "Prop-2 (\(r.depth - 1) preconditioning steps)",
                      "CompressedAlg-\(r.depth)", String(format: "GD, %d steps (η = %.3g)", r.depth, r.gdStepSize),
                      "GD-1", "LSQ (λ = 1e-3)"]
        try? Figures.lines(csv: csv, series: titles.enumerated().map { ($0.offset + 1, $0.element) },
                           title: "F2: linear-\(r.depth) against its hypothesized algorithms, held-out batch",
                           xlabel: "position t", ylabel: "½‖ŝ_{t+1} − s_{t+1}‖²", logY: true,
                           to: root.appendingPathComponent("per_position_loss_linear-\(r.depth)"))
    }
}
