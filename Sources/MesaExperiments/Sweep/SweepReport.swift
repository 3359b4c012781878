import Foundation
import MesaAnalysis
import MesaNN
import MesaTasks
import MesaTensor
import MesaTraining

/// `mesa sweep report DIR`: the finished points pooled over seeds. Points whose configurations
/// agree but for the seed form one configuration; for each, the model's per-position held-out loss
/// (the run's test batch, as `mesa eval` computes it) as mean ± standard deviation over its seeds,
/// drawn as bands; the final numbers per point and per configuration in tables and CSV; and the
/// points that diverged, flagged. Written to DIR/report/ (report.md, per_position.csv/.png/.svg,
/// points.csv, configurations.csv).
public struct SweepReport {
    /// A point counts as diverged when its training stopped on a non-finite loss or gradient (its
    /// log says so), when metrics.csv holds a non-finite loss, or when its last held-out loss is
    /// above `divergenceRatio` × the held-out loss at step 0 (training made the model worse).
    public static let divergenceRatio = 1.0

    public struct PointResult {
        public let name: String
        public let configuration: Int
        public let seed: UInt64
        public let step: Int
        public let initialEvalLoss: Double?
        public let finalEvalLoss: Double?
        public let perPosition: [Double]
        public let diverged: String?
        public var meanPerPosition: Double { perPosition.isEmpty ? .nan : perPosition.reduce(0, +) / Double(perPosition.count) }
    }

    public struct Configuration {
        public let label: String
        public let points: [Int]
    }

    public let folder: URL
    public let results: [PointResult]
    public let configurations: [Configuration]
    /// Points not done (named, with their state), left out of the numbers.
    public let missing: [String]

    /// Reads every done point of the sweep in `folder` (the per-position loss is computed from its checkpoint).
    public init(folder: URL) throws {
        try self.init(folder: folder, manifest: SweepManifest.read(folder))
    }

    public init(folder: URL, manifest: SweepManifest) throws {
        self.folder = folder
        let status = SweepStatus(folder: folder, manifest: manifest)
        // Configurations: points equal but for the seed, labelled by the assignments that vary between them.
        var keys: [String] = []
        var members: [[Int]] = []
        for (i, p) in manifest.points.enumerated() {
            let k = p.configurationKey
            if let j = keys.firstIndex(of: k) { members[j].append(i) } else { keys.append(k); members.append([i]) }
        }
        func own(_ p: SweepPoint) -> [String] { [p.preset] + p.assignments.filter { !$0.hasPrefix("seed=") } }
        let firsts = members.map { own(manifest.points[$0[0]]) }
        let shared = firsts.dropFirst().reduce(Set(firsts.first ?? [])) { $0.intersection($1) }
        configurations = zip(members, firsts).map { m, parts in
            let varying = parts.filter { !shared.contains($0) }
            return Configuration(label: varying.isEmpty ? manifest.points[m[0]].preset : varying.joined(separator: " "), points: m)
        }
        var results: [PointResult] = []
        var missing: [String] = []
        for (c, conf) in members.enumerated() {
            for i in conf {
                let p = manifest.points[i], s = status.points[i]
                let dir = RunDirectory(folder.appendingPathComponent(p.name))
                let logDivergence = SweepStatus.divergence(folder: folder, point: p, index: i)
                guard s.state == .done else {
                    missing.append("\(p.name) (\(s.state.rawValue)\(logDivergence.map { ": " + $0 } ?? ""))")
                    if let d = logDivergence {
                        results.append(PointResult(name: p.name, configuration: c, seed: p.config.seed, step: s.step,
                                                   initialEvalLoss: nil, finalEvalLoss: nil, perPosition: [], diverged: d))
                    }
                    continue
                }
                let rows = (try? dir.readMetrics()) ?? []
                let evals = rows.compactMap { r in r.values["eval_loss"].map { (r.step, $0) } }
                let initial = evals.first { $0.0 == 0 }?.1
                let final = evals.last?.1
                let perPosition = try Self.perPositionLoss(dir)
                var diverged = logDivergence
                let nonFinite = rows.first { r in ["train_loss", "eval_loss"].contains { r.values[$0].map { !$0.isFinite } ?? false } }
                if diverged == nil, let r = nonFinite { diverged = "non-finite loss at step \(r.step) in metrics.csv" }
                if diverged == nil, perPosition.contains(where: { !$0.isFinite }) { diverged = "non-finite per-position loss" }
                if diverged == nil, let a = initial, let b = final, b > Self.divergenceRatio * a {
                    diverged = String(format: "held-out loss %.4g at the end above %.4g at step 0", b, a)
                }
                results.append(PointResult(name: p.name, configuration: c, seed: p.config.seed, step: s.step,
                                           initialEvalLoss: initial, finalEvalLoss: final, perPosition: perPosition,
                                           diverged: diverged))
            }
        }
        self.results = results
        self.missing = missing
    }

    /// The trained model's loss at each position of its run's test batch, in Double (as `mesa eval`'s "model" row).
    public static func perPositionLoss(_ dir: RunDirectory) throws -> [Double] {
        let run = try LoadedRun(directory: dir)
        let config = run.config
        let task = try config.task.makeTask(seed: config.seed)
        let test = task.batch(size: config.evalBatchSize, length: config.length, seed: config.seed,
                              purpose: .testBatch, dtype: .float64)
        let s = StateSequences(inputs: test.inputs, targets: test.targets)
        let predictions = Variable.withoutGradients { run.model(config.tokens.tokens(from: test.inputs)).value.doubles }
        return s.loss(of: predictions)
    }

    /// Mean and sample standard deviation (0 for one value).
    public static func meanAndSD(_ xs: [Double]) -> (mean: Double, sd: Double) {
        guard !xs.isEmpty else { return (.nan, .nan) }
        let m = xs.reduce(0, +) / Double(xs.count)
        guard xs.count > 1 else { return (m, 0) }
        let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)
        return (m, v.squareRoot())
    }

    /// Per configuration: the per-position mean and sd over its finished, non-diverged seeds.
    public func bands() -> [(mean: [Double], sd: [Double], seeds: Int)] {
        configurations.indices.map { c in
            let curves = results.filter { $0.configuration == c && $0.diverged == nil && !$0.perPosition.isEmpty }.map(\.perPosition)
            guard let length = curves.map(\.count).min(), length > 0 else { return ([], [], 0) }
            let stats = (0..<length).map { t in Self.meanAndSD(curves.map { $0[t] }) }
            return (stats.map(\.mean), stats.map(\.sd), curves.count)
        }
    }

    /// Writes DIR/report/ and returns report.md's URL. Refuses when no point is done.
    @discardableResult
    public func write() throws -> URL {
        guard results.contains(where: { !$0.perPosition.isEmpty }) else {
            throw SweepError.failed("no point of \(folder.path) has finished yet: nothing to report (see `mesa sweep status`)")
        }
        let out = folder.appendingPathComponent("report")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let bands = bands()
        func f(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.6g", $0) : "\($0)" } ?? "" }

        // Per-position bands: position, then mean, sd, mean − sd, mean + sd per configuration.
        let length = bands.map(\.mean.count).max() ?? 0
        var csv = ["position" + configurations.indices.flatMap { c in ["c\(c + 1)_mean", "c\(c + 1)_sd", "c\(c + 1)_low", "c\(c + 1)_high"] }
            .map { "," + $0 }.joined()]
        for t in 0..<length {
            var row = "\(t + 1)"
            for b in bands {
                if t < b.mean.count {
                    row += ",\(b.mean[t]),\(b.sd[t]),\(b.mean[t] - b.sd[t]),\(b.mean[t] + b.sd[t])"
                } else { row += ",,,," }
            }
            csv.append(row)
        }
        let bandsCSV = out.appendingPathComponent("per_position.csv")
        try AtomicFile.write(csv.joined(separator: "\n") + "\n", to: bandsCSV)

        var points = ["point,configuration,seed,step,initial_eval_loss,final_eval_loss,mean_per_position_loss,diverged"]
        for r in results {
            points.append("\(r.name),\(r.configuration + 1),\(r.seed),\(r.step),\(f(r.initialEvalLoss)),\(f(r.finalEvalLoss)),"
                          + "\(r.perPosition.isEmpty ? "" : f(r.meanPerPosition)),\(r.diverged == nil ? 0 : 1)")
        }
        try AtomicFile.write(points.joined(separator: "\n") + "\n", to: out.appendingPathComponent("points.csv"))

        var confRows = ["configuration,label,seeds,final_eval_mean,final_eval_sd,mean_per_position_mean,mean_per_position_sd,diverged"]
        var table = "| # | configuration | seeds | final held-out loss | mean per-position loss | diverged |\n|---|---|---|---|---|---|\n"
        for (c, conf) in configurations.enumerated() {
            let ok = results.filter { $0.configuration == c && $0.diverged == nil && !$0.perPosition.isEmpty }
            let diverged = results.filter { $0.configuration == c && $0.diverged != nil }.count
            let e = Self.meanAndSD(ok.compactMap(\.finalEvalLoss)), m = Self.meanAndSD(ok.map(\.meanPerPosition))
            confRows.append("\(c + 1),\"\(conf.label.replacingOccurrences(of: "\"", with: "\"\""))\",\(ok.count),\(f(e.mean)),\(f(e.sd)),\(f(m.mean)),\(f(m.sd)),\(diverged)")
            table += "| \(c + 1) | `\(conf.label)` | \(ok.count) of \(conf.points.count) | \(f(e.mean)) ± \(f(e.sd)) | \(f(m.mean)) ± \(f(m.sd)) | \(diverged) |\n"
        }
        try AtomicFile.write(confRows.joined(separator: "\n") + "\n", to: out.appendingPathComponent("configurations.csv"))

        var pointTable = "| point | configuration | seed | step | final held-out loss | mean per-position loss | diverged |\n|---|---|---|---|---|---|---|\n"
        for r in results {
            pointTable += "| \(r.name) | \(r.configuration + 1) | \(r.seed) | \(r.step) | \(f(r.finalEvalLoss)) | "
                + "\(r.perPosition.isEmpty ? "–" : f(r.meanPerPosition)) | \(r.diverged.map { "**yes**: \($0)" } ?? "no") |\n"
        }

        var figureNote = ""
        do {
            try Self.drawBands(csv: bandsCSV, labels: configurations.map(\.label), to: out.appendingPathComponent("per_position"))
        } catch {
            figureNote = "\n(The figure was not drawn: \(error).)\n"
        }
        let diverged = results.filter { $0.diverged != nil }
        let md = """
        # Sweep report: \(folder.lastPathComponent)

        \(results.filter { !$0.perPosition.isEmpty }.count) of \(results.count + missing.count - diverged.filter { $0.perPosition.isEmpty }.count) points finished\
        \(missing.isEmpty ? "" : "; not included: " + missing.joined(separator: ", ")).
        Configurations pool the points that differ only in their seed; diverged points are left out of the
        means and flagged below (diverged: stopped on a non-finite loss, a non-finite loss in metrics.csv, or a
        final held-out loss above \(Self.divergenceRatio)× the loss at step 0).

        ## Final numbers per configuration (mean ± sd over seeds)

        \(table)
        Data: `configurations.csv`, `points.csv`.

        ## Per-position held-out loss, mean ± sd over seeds

        ![per-position loss](per_position.png)
        \(figureNote)
        Data: `per_position.csv` (per configuration c: mean, sd, mean − sd, mean + sd).

        ## Points

        \(pointTable)
        \(diverged.isEmpty ? "No point diverged." : "**\(diverged.count) point(s) diverged**: " + diverged.map(\.name).joined(separator: ", ") + ".")

        """
        let url = out.appendingPathComponent("report.md")
        try AtomicFile.write(md, to: url)
        return url
    }

    /// One band (mean ± sd, shaded) and its mean line per configuration.
    static func drawBands(csv: URL, labels: [String], to base: URL) throws {
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        var plots: [String] = []
        for (c, label) in labels.enumerated() {
            let color = colors[c % colors.count]
            let col = 2 + 4 * c
            let title = label.replacingOccurrences(of: "'", with: "").replacingOccurrences(of: "_", with: "\\\\_")
            plots.append("'\(csv.path)' using 1:\(col + 2):\(col + 3) with filledcurves fc rgb '\(color)' fs transparent solid 0.25 notitle")
            plots.append("'\(csv.path)' using 1:\(col) with lines lw 2 lc rgb '\(color)' title '\(String(title.prefix(60)))'")
        }
        try Figures.render("""
        set title 'per-position held-out loss, mean ± sd over seeds'
        set xlabel 'position t'
        set ylabel 'loss'
        set key top right
        set grid
        plot \(plots.joined(separator: ", \\\n     "))
        """, to: base)
    }
}
