import Foundation
import MesaAnalysis
import MesaTensor
import MesaTheory

/// F9 ([ZH]; ZHENG.md, SPEC §8 F9): a one-layer linear causal self-attention trained by full-batch gradient
/// descent on complex AR sequences `x_{t+1} = W x_t` (W a random diagonal unitary) converges, under the data
/// condition, to one step of gradient descent on the in-context least-squares loss with step `s*/(t−1)`;
/// it then recovers the next token for the sparse initial token and not for the Gaussian one; from the
/// full-one start it leaves the diagonal structure and beats the diagonal-only (projected) model.
///
/// The folder holds one job per file: the runs (`F9Runs.swift`), the numbers the claims read
/// (`F9Measured.swift`), the claims (`F9Claims.swift`), the figures and the report.
public struct FindingF9: Finding {
    public let name = "F9"
    public let claim = "[ZH]: one-step GD emerges in a linear causal self-attention trained on AR sequences"
    public let profiles = ["quick", "paper"]
    public init() {}

    /// One training set per run: the seed fixes the AR sequences, so runs are compared on the same data.
    public func defaultSeeds(profile: String) -> [UInt64] { [0] }

    /// |ab/s* − 1| counted as "ab reached s*" (the 2%).
    public static let stepSizeTolerance = 0.02
    /// Largest relative RMS distance between the trained model's predictions and those of the one-step GD
    /// predictor built from s*, over all held-out positions.
    public static let predictorTolerance = 0.03
    /// Largest relative gap between the Gaussian prediction/target ratio and s*κ0/d (= s*σ²).
    public static let ratioTolerance = 0.05
    /// Largest relative gap between a measured mean square of the non-recovering part and s²κ3/(t−1).
    public static let residualTolerance = 0.1
    /// Largest entry counted as "zero to rounding" (the weights are O(1)).
    public static let roundingLevel = 1e-10
    /// Steps of the table runs (ZHENG.md: 120–200).
    public static let tableSteps = 200
    /// Last-position metrics are recorded every this many steps.
    static let probeInterval = 5

    /// ZHENG.md §Training: (a₀, b₀) and the step-size table.
    public static let initializations: [(a: Double, b: Double)] = [(0.1, 0.1), (0.5, 1.5), (2, 2)]
    public static let table: [(distribution: InitialTokenDistribution, stepSize: Double)] = [
        (.gaussian(sigma: 0.5), 1e-3), (.gaussian(sigma: 1), 1e-4), (.gaussian(sigma: 2), 2e-6),
        (.sparse(scale: 0.5), 3e-2), (.sparse(scale: 1), 1e-3), (.sparse(scale: 2), 1e-4),
    ]
    public static let fullOneStepSize = 5e-4

    /// The sizes a profile runs at.
    public struct Profile: Codable, Equatable {
        public var name: String
        /// Training and held-out sequences per setting (ZHENG.md: 10 000 each).
        public var trainCount: Int
        public var testCount: Int
        /// A table run whose ab still moves after `tableSteps` is continued until ab stops moving, at most to this step.
        public var longSteps: Int
        /// Steps and initializations (indices into `initializations`) of the full-one runs.
        public var fullOneSteps: Int
        public var fullOneInitializations: [Int]
        /// Training sets (seeds) over which the sampling spread of the training-set optimum is measured.
        public var samplingSeeds: Int
        /// Training-set sizes of the Gaussian σ = 1 runs from (0.5, 1.5) that show how the finite-sample
        /// deviations shrink with m, and their steps.
        public var scalingCounts: [Int]
        public var scalingSteps: Int

        public static func named(_ name: String) -> Profile {
            name == "paper"
                ? Profile(name: name, trainCount: 10_000, testCount: 10_000, longSteps: 1000, fullOneSteps: 1000,
                          fullOneInitializations: [0, 1, 2], samplingSeeds: 16, scalingCounts: [2500, 10_000, 40_000],
                          scalingSteps: 200)
                : Profile(name: name, trainCount: 5000, testCount: 10_000, longSteps: 600, fullOneSteps: 200,
                          fullOneInitializations: [1], samplingSeeds: 8, scalingCounts: [1250, 5000, 20_000],
                          scalingSteps: 100)
        }
    }

    public func run(_ options: ReproductionOptions) throws -> URL {
        let seeds = try seeds(for: options)
        guard seeds.count == 1 else { throw ReproductionError.tooManySeeds(finding: name, count: seeds.count, most: 1) }
        let seed = seeds[0]
        let profile = Profile.named(options.profile)
        let root = root(options)
        let cache = options.runCache(root.appendingPathComponent("runs"))
        let started = Date()
        let settings = try Self.table.map { distribution, stepSize in
            try Self.runSetting(distribution, stepSize: stepSize, profile: profile, seed: seed, cache: cache)
        }
        let fullOne = try Self.runFullOne(profile: profile, seed: seed, cache: cache)
        let orbit = try Self.runOrbit(profile: profile, seed: seed, cache: cache)
        let sampling = try Self.measureSampling(profile: profile, seed: seed)
        let scaling = try Self.runScaling(profile: profile, seed: seed, cache: cache)
        let seconds = Date().timeIntervalSince(started)
        let figures = root.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        for s in settings { try Self.drawSetting(s, into: figures) }
        try Self.drawFullOne(fullOne, into: figures)
        try Self.drawStructure(settings: settings, orbit: orbit, into: figures)
        let measured = try Measured(settings: settings, fullOne: fullOne, orbit: orbit, sampling: sampling, scaling: scaling)
        let report = root.appendingPathComponent("report.md")
        try writeReport(measured: measured, settings: settings, fullOne: fullOne, orbit: orbit, scaling: scaling,
                        profile: profile, seed: seed, options: options, seconds: seconds, to: report)
        return report
    }
}

/// How F9's claims, report and figures print numbers.
extension FindingF9 {
    static func pct(_ x: Double) -> String { String(format: "%+.2f%%", 100 * x) }
    static func num(_ x: Double) -> String { String(format: "%.4g", x) }
    static func initTitle(_ a0: Double, _ b0: Double) -> String { "(a_0, b_0) = (\(a0.shortName), \(b0.shortName))" }
}

extension Double {
    /// `0.1`, `2`, `1e-04` for names.
    var shortName: String { self == rounded() ? String(Int(self)) : String(format: "%g", self) }
}
