import Foundation
import MesaAnalysis
import MesaTheory
import MesaTraining

/// F9's runs: every setting of ZHENG.md's table from each initialization, the full-one runs with and
/// without the diagonal projection, the symmetry-orbit run, the sampling spread of the training-set
/// optimum, and the Gaussian runs at several training-set sizes. Each run goes through the finding's
/// `RunCache` (ROOT/runs/NAME/{config,result}.json).
extension FindingF9 {
    /// A run is still moving while ab changes by more than `tolerance` (relative) over `window` steps.
    static func stillMoving(_ records: [GradientDescent.Record], window: Int, tolerance: Double) -> Bool {
        guard records.count > window, let last = records.last?.ab else { return true }
        return abs(last - records[records.count - 1 - window].ab) > tolerance * abs(last)
    }
    /// Continue a table run that moved by more than 0.01% over its last 10 steps; stop the longer run
    /// once ab moves by less than 10⁻⁶ (relative) over 20 steps.
    static let movingWindow = 10, movingTolerance = 1e-4
    static let stationaryWindow = 20, stationaryTolerance = 1e-6

    static func runSetting(_ distribution: InitialTokenDistribution, stepSize: Double, profile: Profile, seed: UInt64,
                           cache: RunCache) throws -> Setting {
        let process = ARProcess(initialToken: distribution)
        let train = try ARSequenceSet(process, count: profile.trainCount, seed: seed, purpose: .trainingBatch)
        let test = try ARSequenceSet(process, count: profile.testCount, seed: seed, purpose: .testBatch)
        let prediction = try EmergencePrediction(process)
        let objective = FullBatchObjective(train)
        let probe = LastPositionProbe(test)
        var runs: [InitRun] = []
        for (a0, b0) in initializations {
            let config = RunConfig(setting: distribution.slug, dimension: process.dimension, length: process.length,
                                   trainCount: profile.trainCount, seed: seed, a0: a0, b0: b0,
                                   descent: GradientDescent(stepSize: stepSize, steps: tableSteps), symmetryOrbit: false)
            let tableRun = try descend(config, objective: objective, probe: probe, gdStepSize: prediction.stepSize,
                                            cache: cache)
            var long: RunResult?
            if stillMoving(tableRun.records, window: movingWindow, tolerance: movingTolerance), profile.longSteps > tableSteps {
                var longConfig = config
                longConfig.descent.steps = profile.longSteps
                longConfig.stopWhenStationary = true
                long = try descend(longConfig, objective: objective, probe: probe, gdStepSize: prediction.stepSize,
                                        cache: cache, continuing: tableRun)
            }
            let model = try (long ?? tableRun).model()
            runs.append(InitRun(a0: a0, b0: b0, table: tableRun, long: long,
                                profile: PositionProfile.measure(model, on: test, gdStepSize: prediction.stepSize)))
        }
        return Setting(distribution: distribution, stepSize: stepSize, prediction: prediction,
                       sampleOptimum: OneStepGD.bestStepSize(on: train), runs: runs)
    }

    static func runFullOne(profile: Profile, seed: UInt64, cache: RunCache) throws -> FullOne {
        let process = ARProcess(initialToken: .fullOne)
        let train = try ARSequenceSet(process, count: profile.trainCount, seed: seed, purpose: .trainingBatch)
        let test = try ARSequenceSet(process, count: profile.testCount, seed: seed, purpose: .testBatch)
        let prediction = try EmergencePrediction(process)
        let objective = FullBatchObjective(train)
        let probe = LastPositionProbe(test)
        var runs: [(Double, Double, RunResult, RunResult)] = []
        var errors: [(Double, Double)] = []
        for i in profile.fullOneInitializations {
            let (a0, b0) = initializations[i]
            var results: [RunResult] = []
            for projected in [false, true] {
                let config = RunConfig(setting: "full-one", dimension: process.dimension, length: process.length,
                                       trainCount: profile.trainCount, seed: seed, a0: a0, b0: b0,
                                       descent: GradientDescent(stepSize: fullOneStepSize, steps: profile.fullOneSteps,
                                                                projectDiagonalBlocks: projected),
                                       symmetryOrbit: false)
                results.append(try descend(config, objective: objective, probe: probe, gdStepSize: prediction.stepSize,
                                                cache: cache))
            }
            runs.append((a0, b0, results[0], results[1]))
            // Held-out loss, normalized as the training loss: ½ Σ_t E‖ŷ_t − x_{t+1}‖².
            let heldOut = try results.map {
                0.5 * PositionProfile.measure(try $0.model(), on: test, gdStepSize: prediction.stepSize).testError.reduce(0, +)
            }
            errors.append((heldOut[0], heldOut[1]))
        }
        return FullOne(prediction: prediction, runs: runs, heldOutLoss: errors)
    }

    /// The Gaussian σ = 1 run from (0.5, 1.5) on the symmetry orbit of `trainCount / 96` base sequences.
    static func runOrbit(profile: Profile, seed: UInt64, cache: RunCache) throws -> Orbit {
        let process = ARProcess(initialToken: .gaussian(sigma: 1))
        let images = 3 << process.dimension
        let base = max(1, profile.trainCount / images)
        let train = try ARSequenceSet(process, count: base, seed: seed, purpose: .trainingBatch).symmetryOrbit()
        let test = try ARSequenceSet(process, count: profile.testCount, seed: seed, purpose: .testBatch)
        let prediction = try EmergencePrediction(process)
        let config = RunConfig(setting: "gaussian-sigma1-orbit", dimension: process.dimension, length: process.length,
                               trainCount: train.count, seed: seed, a0: 0.5, b0: 1.5,
                               descent: GradientDescent(stepSize: 1e-4, steps: tableSteps), symmetryOrbit: true)
        let run = try descend(config, objective: FullBatchObjective(train), probe: LastPositionProbe(test),
                                   gdStepSize: prediction.stepSize, cache: cache)
        return Orbit(baseCount: base, sampleOptimum: OneStepGD.bestStepSize(on: train), run: run)
    }

    static func measureSampling(profile: Profile, seed: UInt64) throws -> Sampling {
        let process = ARProcess(initialToken: .gaussian(sigma: 1))
        let sStar = try EmergencePrediction(process).stepSize
        let deviations = try (0..<UInt64(profile.samplingSeeds)).map { k in
            OneStepGD.bestStepSize(on: try ARSequenceSet(process, count: profile.trainCount, seed: seed &+ k, purpose: .trainingBatch)) / sStar - 1
        }
        return Sampling(count: profile.trainCount, deviations: deviations)
    }

    static func runScaling(profile: Profile, seed: UInt64, cache: RunCache) throws -> Scaling {
        let process = ARProcess(initialToken: .gaussian(sigma: 1))
        let prediction = try EmergencePrediction(process)
        let test = try ARSequenceSet(process, count: profile.testCount, seed: seed, purpose: .testBatch)
        let probe = LastPositionProbe(test)
        var points: [(Int, Double, RunResult, PositionProfile)] = []
        for m in profile.scalingCounts {
            let train = try ARSequenceSet(process, count: m, seed: seed, purpose: .trainingBatch)
            let config = RunConfig(setting: "gaussian-sigma1", dimension: process.dimension, length: process.length,
                                   trainCount: m, seed: seed, a0: 0.5, b0: 1.5,
                                   descent: GradientDescent(stepSize: 1e-4, steps: profile.scalingSteps), symmetryOrbit: false)
            let run = try descend(config, objective: FullBatchObjective(train), probe: probe, gdStepSize: prediction.stepSize,
                                       cache: cache)
            points.append((m, OneStepGD.bestStepSize(on: train), run,
                           PositionProfile.measure(try run.model(), on: test, gdStepSize: prediction.stepSize)))
        }
        return Scaling(prediction: prediction, points: points)
    }

    static func runName(_ c: RunConfig) -> String {
        "\(c.setting)-m\(c.trainCount)-a\(c.a0.shortName)-b\(c.b0.shortName)-steps\(c.descent.steps)\(c.descent.projectDiagonalBlocks ? "-projected" : "")"
    }

    /// Trains `config` (continuing `continuing`, a shorter run of the same setting, when given) unless the
    /// run cache holds its result.
    static func descend(_ config: RunConfig, objective: FullBatchObjective, probe: LastPositionProbe, gdStepSize: Double,
                        cache: RunCache, continuing: RunResult? = nil) throws -> RunResult {
        let name = runName(config)
        return try cache.result(config, name: name, label: "F9 \(name)") {
            try train(config, name: name, objective: objective, probe: probe, gdStepSize: gdStepSize,
                      progress: cache.progress, continuing: continuing)
        }
    }

    /// Full-batch gradient descent from (a₀, b₀), or from where `continuing` ended, recording every step and
    /// probing the last position every `probeInterval` steps.
    static func train(_ config: RunConfig, name: String, objective: FullBatchObjective, probe: LastPositionProbe,
                      gdStepSize: Double, progress: Bool, continuing: RunResult?) throws -> RunResult {
        let line = ProgressLine(label: "F9 \(name)", total: config.descent.steps)
        line.enabled = progress
        let started = Date()
        var start = try LinearCausalAttention.diagonal(dimension: config.dimension, a: config.a0, b: config.b0)
        var descent = config.descent
        var firstStep = 0
        var records: [GradientDescent.Record] = []
        var probes: [ProbePoint] = []
        if let previous = continuing {
            start = try previous.model()
            firstStep = previous.final.step
            descent.steps = config.descent.steps - firstStep
            records = Array(previous.records.dropLast())
            probes = previous.probes.filter { $0.step < firstStep }
        }
        let stationary: ([GradientDescent.Record]) -> Bool = { records in
            config.stopWhenStationary && !stillMoving(records, window: stationaryWindow, tolerance: stationaryTolerance)
        }
        let run = try descent.run(from: start, on: objective, firstStep: firstStep, until: stationary) { record, model in
            if record.step % probeInterval == 0 {
                probes.append(ProbePoint(step: record.step, metrics: probe.metrics(model, gdStepSize: gdStepSize)))
            }
            line.update(step: record.step, ["loss": record.loss, "ab": record.ab])
        }
        let last = run.records.last!
        if probes.last?.step != last.step {
            probes.append(ProbePoint(step: last.step, metrics: probe.metrics(run.model, gdStepSize: gdStepSize)))
        }
        line.update(step: last.step, ["loss": last.loss, "ab": last.ab], force: true)
        line.finish()
        records += run.records
        return RunResult(config: config, records: records, probes: probes,
                               keyQueryRe: run.model.keyQuery.map(\.real), keyQueryIm: run.model.keyQuery.map(\.imaginary),
                               projectionValueRe: run.model.projectionValue.map(\.real),
                               projectionValueIm: run.model.projectionValue.map(\.imaginary),
                               seconds: Date().timeIntervalSince(started) + (continuing?.seconds ?? 0))
    }
}
