import Foundation
import MesaTraining

/// The softmax-7 run that F3 and F6 take apart. At the quick and paper profiles it is F4's own
/// run (F4's configuration, in OUT/F4/softmax-7-sSEED), so a run trained for one finding serves
/// all three; the smoke profile trains a tiny one beside it (seconds, for the tests).
enum SoftmaxSevenRun {
    static func config(profile: String, seed: UInt64) throws -> TrainConfig {
        guard profile == "smoke" else { return try FindingF4.config(preset: "softmax-7", profile: profile, seed: seed) }
        var c = try Presets.config("softmax-7")
        c.seed = seed
        c.steps = 20
        c.batchSize = 16
        c.length = 12
        c.evalBatchSize = 32
        c.evalEvery = 10
        c.checkpointEvery = 10
        c.schedule = .init(peak: 1e-3, warmupSteps: 5, horizon: 15)
        return c
    }

    static func train(profile: String, seed: UInt64, options: ReproductionOptions, finding: String) throws -> RunDirectory {
        let cache = options.runCache(options.outputRoot.appendingPathComponent("F4"))
        let name = profile == "smoke" ? "softmax-7-smoke-s\(seed)" : "softmax-7-s\(seed)"
        return try cache.train(config(profile: profile, seed: seed), name: name, label: "\(finding) softmax-7 seed \(seed)")
    }

    /// What the report says about the training budget against the paper's.
    static func budget(_ c: TrainConfig, profile: String) -> String {
        "softmax-7 trained \(c.steps) steps at batch \(c.batchSize), peak learning rate \(c.schedule.peak), sequences of length \(c.length)"
            + (profile == "paper" ? "" : " (the paper: batch 256, tens of thousands of steps)")
    }
}
