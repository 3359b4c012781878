import Foundation
import MesaAnalysis
import MesaTensor
import MesaTraining

/// F6 ([VO] §3.3, SPEC §8): distilling softmax-7's layers 2…7 into linear attention layers
/// (SPEC §5.6) costs almost nothing; layer 1, which builds the [s_t, s_{t−1}] tokens by attending
/// sharply to t and t−1, cannot be linearized.
public struct FindingF6: Finding {
    public let name = "F6"
    public let claim = "linearizing softmax-7's layers ≥ 2 is nearly lossless; linearizing layer 1 is not"
    public let profiles = ["quick", "paper", "smoke"]
    public init() {}

    public func defaultSeeds(profile: String) -> [UInt64] { profile == "paper" ? [0, 1, 2, 3, 4] : [0] }

    static func settings(profile: String) -> (sequences: Int, distillation: Linearization.Settings) {
        switch profile {
        case "smoke": return (32, .init(steps: 10, batchSize: 16))
        case "paper": return (2048, .init(steps: 1000, batchSize: 64))
        default: return (1024, .init(steps: 400, batchSize: 64))
        }
    }

    /// The loss ratios F6's claims read, averaged over seeds.
    public struct Measured: Codable, Equatable {
        /// Per layer (index 0: layer 1), swapped alone.
        public var ratios: [Double]
        /// Layers 2… swapped at once.
        public var fromSecond: Double

        public init(ratios: [Double], fromSecond: Double) {
            self.ratios = ratios
            self.fromSecond = fromSecond
        }

        public static func mean(_ all: [Measured]) -> Measured {
            Measured(ratios: all[0].ratios.indices.map { i in all.map { $0.ratios[i] }.reduce(0, +) / Double(all.count) },
                     fromSecond: all.map(\.fromSecond).reduce(0, +) / Double(all.count))
        }
    }

    /// F6's claims from its measured numbers alone.
    public static func claims(_ m: Measured) -> [Claim] {
        let later = Array(m.ratios.dropFirst()), first = m.ratios.first ?? .nan
        return [
            Claim(statement: "linearizing layer 1 is not lossless (loss ≥ 1.5× the model's)",
                  measured: String(format: "×%.3f", first), holds: first >= 1.5),
            Claim(statement: "linearizing any one layer ≥ 2 is nearly lossless (loss ≤ 1.1× the model's)",
                  measured: later.enumerated().map { String(format: "layer %d: ×%.3f", $0.offset + 2, $0.element) }.joined(separator: "; "),
                  holds: !later.isEmpty && later.allSatisfy { $0 <= 1.1 }),
            Claim(statement: "linearizing all layers ≥ 2 at once stays close (loss ≤ 1.25× the model's) and far below linearizing layer 1",
                  measured: String(format: "×%.3f (layer 1 alone: ×%.3f)", m.fromSecond, first),
                  holds: m.fromSecond <= 1.25 && m.fromSecond < first),
        ]
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        let root = root(options)
        let (sequences, distillation) = Self.settings(profile: options.profile)
        var measured: [Measured] = [], first: URL?, config: TrainConfig?
        for seed in seeds {
            let dir = try SoftmaxSevenRun.train(profile: options.profile, seed: seed, options: options, finding: name)
            let run = try LoadedRun(directory: dir)
            config = run.config
            let analysis = try LinearizationAnalysis(run, sequences: sequences, settings: distillation)
            let r = try analysis.run()
            measured.append(Measured(ratios: r.single.map(\.ratio), fromSecond: r.fromSecond?.ratio ?? .nan))
            if first == nil { first = analysis.outputDirectory }
        }
        let m = Measured.mean(measured)
        let claims = Self.claims(m)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let csv = root.appendingPathComponent("linearization.csv")
        try CSV.write(header: ["layer", "ratio"], rows: m.ratios.enumerated().map { [Double($0.offset + 1), $0.element] }, to: csv)
        try? Figures.lines(csv: csv, series: [(1, "loss with the layer linearized / model loss")],
                           title: "F6: softmax-7, one layer linearized at a time (mean over \(seeds.count) seed(s))",
                           xlabel: "linearized layer", ylabel: "loss ratio", logY: true, to: root.appendingPathComponent("linearization"))
        let c = config!
        let md = """
        # F6: softmax-7's layers ≥ 2 linearize, layer 1 does not

        Claim ([VO] §3.3; SPEC §8 F6). Profile `\(options.profile)`, \(seeds.count) seed(s): \(SoftmaxSevenRun.budget(c, profile: options.profile)).
        Each softmax layer distilled into a linear attention layer on its real inputs (\(distillation.steps) AdamW steps of \(distillation.batchSize)
        of \(sequences) validation sequences), swapped in, and the loss measured on \(sequences) test sequences.
        Reproduce with `\(command(options))`.

        \(Claim.table(claims))

        | linearized | \((1...m.ratios.count).map { "layer \($0)" }.joined(separator: " | ")) | layers 2–\(m.ratios.count) at once |
        |---|\(m.ratios.map { _ in "---|" }.joined())---|
        | loss / model's | \(m.ratios.map { String(format: "%.3f", $0) }.joined(separator: " | ")) | \(String(format: "%.3f", m.fromSecond)) |

        ![loss ratios](linearization.png)

        Per seed: `measured.json`; distillation errors and losses (seed \(seeds[0])): `\((first?.path ?? "").replacingOccurrences(of: root.deletingLastPathComponent().path, with: ".."))/summary.md`.

        """
        try AtomicFile.write(ProbeAnalysis.encoder().encode(measured), to: root.appendingPathComponent("measured.json"))
        let report = root.appendingPathComponent("report.md")
        try Report.write(md, claims: claims, to: report)
        return report
    }
}
