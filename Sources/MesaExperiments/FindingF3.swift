import Foundation
import MesaAnalysis
import MesaTensor
import MesaTraining

/// F3 ([VO] §3.2, SPEC §8): softmax-7 on unconstructed tokens builds the [s_t, s_{t−1}] tokens in
/// its first layer (attention to t and t−1), then the preconditioned token (S_{t−1}S_{t−1}ᵀ + λI)⁻¹ s_t
/// becomes linearly decodable increasingly with depth, and the next token at the top.
public struct FindingF3: Finding {
    public let name = "F3"
    public let claim = "softmax-7 attends to t and t−1 in layer 1; probes decode s_{t−1}, then the preconditioned token with depth, then s_{t+1}"
    public let profiles = ["quick", "paper", "smoke"]
    public init() {}

    public func defaultSeeds(profile: String) -> [UInt64] { profile == "paper" ? [0, 1, 2, 3, 4] : [0] }

    /// Sequences in each of the probes' fitting and scoring sets.
    static func sequences(profile: String) -> Int { profile == "smoke" ? 96 : 2048 }

    /// What F3's claims read, averaged over seeds; per-layer values are the best of the layer's
    /// two sites (after attention, after the MLP), each a mean R² over positions t ≥ 2.
    public struct Measured: Codable, Equatable {
        public var onCurrent: Double, onPrevious: Double
        public var length: Int
        public var previousAtEmbedding: Double
        /// R² of s_{t−1} per layer.
        public var previousByLayer: [Double]
        public var preconditionedByLayer: [Double]
        public var nextByLayer: [Double]

        public init(onCurrent: Double, onPrevious: Double, length: Int, previousAtEmbedding: Double,
                    previousByLayer: [Double], preconditionedByLayer: [Double], nextByLayer: [Double]) {
            self.onCurrent = onCurrent
            self.onPrevious = onPrevious
            self.length = length
            self.previousAtEmbedding = previousAtEmbedding
            self.previousByLayer = previousByLayer
            self.preconditionedByLayer = preconditionedByLayer
            self.nextByLayer = nextByLayer
        }

        /// From one run's probes and attention.
        public init(probes r: ResidualProbes.Result, onCurrent: Double, onPrevious: Double, layers: Int) {
            func byLayer(_ target: String) -> [Double] {
                (0..<layers).map { i in
                    r.sites.filter { $0.hasPrefix("layers.\(i).") }.map { r.meanR2(site: $0, target: target) }.max() ?? .nan
                }
            }
            self.init(onCurrent: onCurrent, onPrevious: onPrevious, length: r.positions,
                      previousAtEmbedding: r.meanR2(site: "embedding", target: "s_t-1"), previousByLayer: byLayer("s_t-1"),
                      preconditionedByLayer: byLayer("preconditioned"), nextByLayer: byLayer("s_t+1"))
        }

        /// The element-wise mean of several seeds' measurements.
        public static func mean(_ all: [Measured]) -> Measured {
            func m(_ f: (Measured) -> Double) -> Double { all.map(f).reduce(0, +) / Double(all.count) }
            func v(_ f: (Measured) -> [Double]) -> [Double] { all[0].previousByLayer.indices.map { i in m { f($0)[i] } } }
            return Measured(onCurrent: m(\.onCurrent), onPrevious: m(\.onPrevious), length: all[0].length,
                            previousAtEmbedding: m(\.previousAtEmbedding), previousByLayer: v(\.previousByLayer),
                            preconditionedByLayer: v(\.preconditionedByLayer), nextByLayer: v(\.nextByLayer))
        }
    }

    /// Spearman's rank correlation of the values with their index (no ties expected).
    static func rankCorrelationWithDepth(_ v: [Double]) -> Double {
        let n = v.count
        guard n >= 2 else { return .nan }
        let ranks = v.indices.sorted { v[$0] < v[$1] }.enumerated().reduce(into: [Int](repeating: 0, count: n)) { $0[$1.element] = $1.offset }
        let d2 = v.indices.reduce(0.0) { $0 + Double((ranks[$1] - $1) * (ranks[$1] - $1)) }
        return 1 - 6 * d2 / Double(n * (n * n - 1))
    }

    /// F3's claims from its measured numbers alone.
    public static func claims(_ m: Measured) -> [Claim] {
        func list(_ v: [Double]) -> String { v.map { String(format: "%.2f", $0) }.joined(separator: ", ") }
        let first = m.previousByLayer.first ?? .nan
        let pre = m.preconditionedByLayer, rho = rankCorrelationWithDepth(pre)
        let rise = (pre.dropFirst().max() ?? .nan) - (pre.first ?? .nan)
        let next = m.nextByLayer, top = next.last ?? .nan
        return [
            Claim(statement: "layer 1 attends to the current and the previous token (mean weight on t and t−1 together > 0.5)",
                  measured: String(format: "on t: %.3f, on t−1: %.3f (a uniform causal row: ~%.2f)", m.onCurrent, m.onPrevious,
                                   2.0 / Double(m.length)),
                  holds: m.onCurrent + m.onPrevious > 0.5),
            Claim(statement: "s_{t−1} is decoded after layer 1 (R² ≥ 0.9, and ≥ 0.2 above the embedding's)",
                  measured: String(format: "R² %.3f after layer 1, %.3f at the embedding", first, m.previousAtEmbedding),
                  holds: first >= 0.9 && first - m.previousAtEmbedding >= 0.2),
            Claim(statement: "the preconditioned token is decoded increasingly with depth (rank correlation with depth ≥ 0.5, best later layer ≥ 0.05 above layer 1)",
                  measured: String(format: "R² by layer: %@; rank correlation %.2f, rise %.3f", list(pre), rho, rise),
                  holds: rho >= 0.5 && rise >= 0.05),
            Claim(statement: "the next token is decoded at the top (last layer's R² ≥ 0.5, the highest of all layers within 0.02, ≥ 0.1 above layer 1)",
                  measured: String(format: "R² by layer: %@", list(next)),
                  holds: top >= 0.5 && top >= (next.max() ?? .nan) - 0.02 && top - (next.first ?? .nan) >= 0.1),
        ]
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        let root = root(options)
        var measured: [Measured] = [], firstProbes: URL?, firstAttention: URL?
        var config: TrainConfig?
        for seed in seeds {
            let dir = try SoftmaxSevenRun.train(profile: options.profile, seed: seed, options: options, finding: name)
            let run = try LoadedRun(directory: dir)
            config = run.config
            let probes = try ProbeAnalysis(run, sequences: Self.sequences(profile: options.profile))
            let result = try probes.run()
            let attention = try AttentionAnalysis(run, layers: [1], sequences: Self.sequences(profile: options.profile))
            let focus = try attention.run()[0]
            measured.append(Measured(probes: result, onCurrent: focus.onCurrent, onPrevious: focus.onPrevious,
                                     layers: run.model.blocks.count))
            if firstProbes == nil { firstProbes = probes.outputDirectory; firstAttention = attention.outputDirectory }
        }
        let m = Measured.mean(measured)
        let claims = Self.claims(m)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try AtomicFile.write(ProbeAnalysis.encoder().encode(measured), to: root.appendingPathComponent("measured.json"))
        try CSV.write(header: ["layer", "r2_previous", "r2_preconditioned", "r2_next"],
                      rows: m.previousByLayer.indices.map { [Double($0 + 1), m.previousByLayer[$0], m.preconditionedByLayer[$0], m.nextByLayer[$0]] },
                      to: root.appendingPathComponent("probes_by_layer.csv"))
        try? Figures.lines(csv: root.appendingPathComponent("probes_by_layer.csv"),
                           series: [(1, "s_{t-1}"), (2, "preconditioned s_t"), (3, "s_{t+1}")],
                           title: "F3: softmax-7, probe R² by layer (best sublayer, mean over positions t ≥ 2 and \(seeds.count) seed(s))",
                           xlabel: "layer", ylabel: "R² on held-out sequences", to: root.appendingPathComponent("probes_by_layer"))
        func rel(_ u: URL?) -> String { (u?.path ?? "").replacingOccurrences(of: root.deletingLastPathComponent().path, with: "..") }
        let c = config!
        let md = """
        # F3: softmax-7 constructs its tokens, then preconditions, then predicts

        Claim ([VO] §3.2; SPEC §8 F3). Profile `\(options.profile)`, \(seeds.count) seed(s): \(SoftmaxSevenRun.budget(c, profile: options.profile)).
        Probes: least squares without bias per site and position, fitted on \(Self.sequences(profile: options.profile)) validation sequences and
        scored on as many test sequences; per layer the better of its two sites; mean R² over positions t ≥ 2.
        Reproduce with `\(command(options))`.

        \(Claim.table(claims))

        | layer | \((1...m.previousByLayer.count).map(String.init).joined(separator: " | ")) |
        |---|\(m.previousByLayer.map { _ in "---|" }.joined())
        | R² s_{t−1} | \(m.previousByLayer.map { String(format: "%.3f", $0) }.joined(separator: " | ")) |
        | R² preconditioned s_t | \(m.preconditionedByLayer.map { String(format: "%.3f", $0) }.joined(separator: " | ")) |
        | R² s_{t+1} | \(m.nextByLayer.map { String(format: "%.3f", $0) }.joined(separator: " | ")) |

        R² of s_{t−1} at the embedding: \(String(format: "%.3f", m.previousAtEmbedding)).

        ![probes by layer](probes_by_layer.png)

        Per site and position (seed \(seeds[0])): `\(rel(firstProbes))/`; layer-1 attention: `\(rel(firstAttention))/`.

        """
        let report = root.appendingPathComponent("report.md")
        try Report.write(md, claims: claims, to: report)
        return report
    }
}
