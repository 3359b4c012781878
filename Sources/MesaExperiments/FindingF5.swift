import Foundation
import MesaAnalysis
import MesaTensor
import MesaTraining

/// F5 ([VO] §4, SPEC §8): F4's comparison (hybrid-mesa, full-mesa, softmax-7, linear-deep, LSQ)
/// on the partially observed LDS (task 2: hidden 15, observed n = 5) and the nonlinear LDS
/// (task 3), each model trained on the task itself; does F4's ordering hold there? The claims
/// are F4's, per task, from the same function (`FindingF4.claims`).
public struct FindingF5: Finding {
    public let name = "F5"
    public let claim = "F4's ordering (hybrid-mesa best, near LSQ; linear-deep-6 close behind) also holds on partially observed and nonlinear tasks"
    public let profiles = ["quick", "paper", "smoke"]
    public init() {}

    public func defaultSeeds(profile: String) -> [UInt64] { profile == "paper" ? [0, 1, 2, 3, 4] : [0] }

    /// The tasks, by `task.kind`.
    public static let tasks = ["lds-partial", "lds-nonlinear"]

    /// F4's models at quick and paper; two small ones at smoke.
    public static func models(profile: String) -> [String] {
        profile == "smoke" ? ["hybrid-mesa", "linear-deep-2"] : FindingF4.models(profile: profile)
    }

    /// F4's configuration of `preset` on `task`: the partially observed task observes n = 5
    /// (SPEC §1), so the model reads and predicts 5 numbers; the nonlinear task keeps n = 10.
    public static func config(preset: String, task: String, profile: String, seed: UInt64) throws -> TrainConfig {
        var c = try FindingF4.config(preset: preset, profile: profile == "smoke" ? "quick" : profile, seed: seed)
        c.task.kind = task
        if task == "lds-partial" {
            c.task.dimension = 5
            c.model.dimension = 5
        }
        if profile == "smoke" {
            c.steps = 4
            c.batchSize = 8
            c.length = 10
            c.evalBatchSize = 8
            c.evalEvery = 2
            c.checkpointEvery = 2
            c.schedule = .init(peak: 1e-3, warmupSteps: 1, horizon: 3)
        }
        try c.validate()
        return c
    }

    /// One task's runs: per model and seed the per-position loss, and LSQ's (and the windowed
    /// LSQ's, for partial observation) per seed.
    struct TaskResult {
        let task: String
        var curves: [String: [[Double]]] = [:]
        var lsq: [[Double]] = [], lsqWindow: [[Double]] = []

        func meanCurve(_ c: [[Double]]) -> [Double] {
            guard let first = c.first else { return [] }
            return first.indices.map { t in c.map { $0[t] }.reduce(0, +) / Double(c.count) }
        }
        static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(max(v.count, 1)) }

        func measured(models: [String], length: Int) -> FindingF4.Measured {
            FindingF4.Measured(models: models.map { .init(preset: $0, meanLosses: curves[$0]!.map(Self.mean)) },
                               lsqMeanLoss: Self.mean(meanCurve(lsq)), length: length)
        }
    }

    /// F5's claims: F4's on each task, each statement prefixed by the task.
    public static func claims(_ byTask: [(task: String, measured: FindingF4.Measured)]) -> [Claim] {
        byTask.flatMap { item in
            FindingF4.claims(item.measured).map {
                Claim(statement: "[\(item.task)] " + $0.statement, measured: $0.measured, holds: $0.holds)
            }
        }
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        let root = root(options)
        let cache = options.runCache(root)
        let models = Self.models(profile: options.profile)
        var results: [TaskResult] = []
        var configs: [String: TrainConfig] = [:]
        for task in Self.tasks {
            var r = TaskResult(task: task)
            for preset in models {
                for seed in seeds {
                    let config = try Self.config(preset: preset, task: task, profile: options.profile, seed: seed)
                    configs["\(task)/\(preset)"] = config
                    let dir = try cache.train(config, name: "\(task)/\(preset)-s\(seed)", label: "F5 \(task) \(preset) seed \(seed)")
                    let (_, table) = try Evaluation(runDirectory: dir).run()
                    r.curves[preset, default: []].append(table["model"]!)
                    if preset == models[0] {
                        r.lsq.append(table["lsq"]!)
                        if let w = table["lsq-window"] { r.lsqWindow.append(w) }
                    }
                }
            }
            results.append(r)
        }
        let length = configs["\(Self.tasks[0])/\(models[0])"]!.length
        let byTask = results.map { (task: $0.task, measured: $0.measured(models: models, length: length)) }
        let claims = Self.claims(byTask)
        for r in results { try writeCurves(r, models: models, seeds: seeds, into: root) }
        let report = root.appendingPathComponent("report.md")
        try writeReport(results, byTask: byTask, claims: claims, models: models, seeds: seeds, configs: configs,
                        options: options, to: report)
        return report
    }

    /// TASK/per_position_loss.csv: position, each model's mean over seeds, LSQ (and windowed LSQ); the figure.
    func writeCurves(_ r: TaskResult, models: [String], seeds: [UInt64], into root: URL) throws {
        let folder = root.appendingPathComponent(r.task)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var columns = models.map { (title: $0, values: r.meanCurve(r.curves[$0]!)) }
        columns.append((title: "lsq", values: r.meanCurve(r.lsq)))
        if !r.lsqWindow.isEmpty { columns.append((title: "lsq_window", values: r.meanCurve(r.lsqWindow))) }
        let csv = folder.appendingPathComponent("per_position_loss.csv")
        try CSV.write(header: ["position"] + columns.map(\.title),
                      rows: columns[0].values.indices.map { t in [Double(t + 1)] + columns.map { $0.values[t] } }, to: csv)
        try? Figures.lines(csv: csv, series: columns.enumerated().map { (column: $0.offset + 1, title: $0.element.title) },
                           title: "F5, \(r.task): loss per position, mean over \(seeds.count) seed(s), held-out batch",
                           xlabel: "position t", ylabel: "½‖ŝ_{t+1} − s_{t+1}‖²", logY: true,
                           to: folder.appendingPathComponent("per_position_loss"))
    }

    func writeReport(_ results: [TaskResult], byTask: [(task: String, measured: FindingF4.Measured)], claims: [Claim],
                     models: [String], seeds: [UInt64], configs: [String: TrainConfig], options: ReproductionOptions,
                     to url: URL) throws {
        var sections: [String] = []
        for (r, item) in zip(results, byTask) {
            let m = item.measured
            let ranked = m.models.sorted { $0.meanLoss < $1.meanLoss }
            var rows = ranked.map { model in
                String(format: "| %@ | %.4f (%.4f–%.4f) | %.2f |", model.preset, model.meanLoss, model.meanLosses.min()!,
                       model.meanLosses.max()!, model.meanLoss / m.lsqMeanLoss)
            }
            rows.append(String(format: "| LSQ (λ = 1e-3) | %.4f | 1.00 |", m.lsqMeanLoss))
            if !r.lsqWindow.isEmpty {
                let w = TaskResult.mean(r.meanCurve(r.lsqWindow))
                let window = configs["\(r.task)/\(models[0])"]!.task.partial.lsqWindow
                rows.append(String(format: "| LSQ on the last %d observations | %.4f | %.2f |", window, w, w / m.lsqMeanLoss))
            }
            let c = configs["\(r.task)/\(models[0])"]!
            let paper = try Self.config(preset: models[0], task: r.task, profile: "paper", seed: c.seed)
            sections.append("""
            ## \(r.task) (n = \(c.task.dimension)\(r.task == "lds-partial" ? ", hidden \(c.task.partial.hidden)" : ""))

            | model | mean loss over positions (min–max over seeds) | × LSQ |
            |---|---|---|
            \(rows.joined(separator: "\n"))

            ![loss per position](\(r.task)/per_position_loss.png)

            \(ProfileSettings.differences(used: c, paper: paper))

            """)
        }
        let c = configs["\(Self.tasks[0])/\(models[0])"]!
        let md = """
        # F5: does F4's ordering hold on partially observed and nonlinear tasks?

        Claim ([VO] §4; SPEC §8 F5): F4 — hybrid-mesa beats every other model and approaches least squares, a 6-layer
        linear model comes close to but does not match one mesa-layer — also holds on the partially observed LDS (task 2)
        and the nonlinear LDS (task 3). Each model is trained on each task (F4's configuration, the task swapped in).

        Profile `\(options.profile)`: \(seeds.count) seed(s); models \(models.joined(separator: ", ")); each trained \(c.steps) steps at
        batch \(c.batchSize), peak learning rate \(c.schedule.peak), evaluated on its task's held-out batch of \(c.evalBatchSize)
        sequences. Reproduce with `\(command(options))`.
        \(options.profile == "paper" ? "" : "The quick budget is a fraction of the paper's; it ranks the models' speed of learning as much as their capacity.")

        \(Claim.table(claims))

        \(sections.joined(separator: "\n"))
        Data: `TASK/per_position_loss.csv` (mean over seeds per model, LSQ); every run directory (`TASK/PRESET-sSEED/`)
        holds its config, metrics, checkpoint and `eval/`.

        """
        try Report.write(md, claims: claims, to: url)
    }
}
