import Foundation
import MesaTheory
import Numerics

/// What F9's runs record: each run's configuration (stored beside its result, the run cache's key), its
/// per-step records, last-position probes and final weights, and the groups of runs the claims compare.
extension FindingF9 {
    /// Everything that determines one training run; stored beside its result.
    struct RunConfig: Codable, Equatable {
        var setting: String
        var dimension: Int
        var length: Int
        var trainCount: Int
        var seed: UInt64
        var a0: Double
        var b0: Double
        var descent: GradientDescent
        var symmetryOrbit: Bool
        /// For a longer run: stop once ab is stationary (see `stationaryTolerance`).
        var stopWhenStationary: Bool = false
    }

    struct ProbePoint: Codable, Equatable {
        var step: Int
        var metrics: LastPositionProbe.Metrics
    }

    struct RunResult: Codable {
        var config: RunConfig
        var records: [GradientDescent.Record]
        var probes: [ProbePoint]
        var keyQueryRe: [Double], keyQueryIm: [Double]
        var projectionValueRe: [Double], projectionValueIm: [Double]
        var seconds: Double

        func model() throws -> LinearCausalAttention {
            try LinearCausalAttention(dimension: config.dimension,
                                      keyQuery: zip(keyQueryRe, keyQueryIm).map { Complex($0, $1) },
                                      projectionValue: zip(projectionValueRe, projectionValueIm).map { Complex($0, $1) })
        }
        var final: GradientDescent.Record { records.last! }
    }

    /// One (initial token, step size) row of the table with its three runs.
    struct Setting {
        var distribution: InitialTokenDistribution
        var stepSize: Double
        var prediction: EmergencePrediction
        /// The training set's own optimum of the tied family (`OneStepGD.bestStepSize`).
        var sampleOptimum: Double
        var runs: [InitRun]
    }

    /// The training-set optimum s_emp/s* − 1 over `samplingSeeds` training sets (Gaussian σ = 1).
    struct Sampling {
        var count: Int
        var deviations: [Double]
    }

    /// Gaussian σ = 1 runs from (0.5, 1.5) at several training-set sizes.
    struct Scaling {
        var prediction: EmergencePrediction
        var points: [(count: Int, sampleOptimum: Double, run: RunResult, profile: PositionProfile)]
    }

    struct InitRun {
        var a0: Double, b0: Double
        /// The table run (`tableSteps`), and the longer run continuing it where ab was still moving.
        var table: RunResult
        var long: RunResult?
        var profile: PositionProfile
        var last: RunResult { long ?? table }
    }

    struct FullOne {
        var prediction: EmergencePrediction
        var runs: [(a0: Double, b0: Double, free: RunResult, projected: RunResult)]
        var heldOutLoss: [(free: Double, projected: Double)]
    }

    struct Orbit {
        var baseCount: Int
        var sampleOptimum: Double
        var run: RunResult
    }
}
