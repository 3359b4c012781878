import Foundation
import MesaAnalysis
import MesaTraining

/// Wall time of fitting Prop-2's step sizes (SPEC §4) as F2's quick profile does it: for each
/// depth k, k − 1 preconditioning steps fitted by AdamW from GD-1 on the linear-k task
/// (issue 10's target: under a minute each).
public struct PropositionTwoBenchmark {
    public let rows: [(depth: Int, steps: Int, batch: Int, seconds: Double, trainingLoss: Double)]

    public static func run(profile: String = "quick", depths: [Int] = [2, 4, 6]) throws -> PropositionTwoBenchmark {
        var rows: [(Int, Int, Int, Double, Double)] = []
        for depth in depths {
            let fit = try FindingF2.prop2Fit(depth: depth, profile: profile, seed: 0).train
            var fitted: PropositionTwo?
            let seconds = try elapsedSeconds { fitted = try PropositionTwo.fit(steps: depth - 1, initialEta: 0.02, config: fit) }
            let objective = PropositionTwoObjective(fitted!)
            let task = try fit.task.makeTask(seed: 0)
            let held = task.batch(size: 256, length: fit.length, seed: 0, purpose: .validationBatch, dtype: .float64)
            rows.append((depth, fit.steps, fit.batchSize, seconds, objective.loss(on: held).value.item))
        }
        return PropositionTwoBenchmark(rows: rows)
    }

    public var report: String {
        "Prop-2 step-size fit (AdamW on α, β, μ, η; T = 50, n = 10):\n"
            + rows.map { String(format: "  depth %d (%d preconditioning steps): %d steps at batch %d in %.2f s; held-out loss %.4f",
                                $0.depth, $0.depth - 1, $0.steps, $0.batch, $0.seconds, $0.trainingLoss) }.joined(separator: "\n")
    }
}
